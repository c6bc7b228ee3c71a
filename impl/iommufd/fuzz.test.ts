/**
 * The reference never throws on bad input, and answers by its rules: random
 * field values (extremes, small ids, live IOVAs, wild pointers) for every core
 * command, including VFIO compat and the core test ops, on a context with a
 * mock domain, an access and mappings. Each call is an fc.Command (a failing
 * sequence shrinks) judged by an oracle:
 *   - dispatch (spec/abi decodeIoctl over the same user memory, before the
 *     call): when it refuses the argument, the call fails with exactly its
 *     errno (ENOTTY, EFAULT, EINVAL, E2BIG);
 *   - otherwise the errno is 0 or one the spec's errno clauses give the command
 *     (spec/clauses: kind 'errno', that command or none; VFIO map/unmap share
 *     IOAS_MAP/UNMAP's, whose io_pagetable path they take) — IOMMU_TEST_CMD's
 *     ops are the kernel's test harness, held to the dispatch rule and to its
 *     clauses where it has them, plus the harness's own ENOMEM/EBADE/EOVERFLOW;
 *   - no kernel WARN (ctx.warnings) after any call;
 * and closing the context leaves nothing pinned.
 */
import { describe, expect } from 'vitest';
import fc from 'fast-check';
import { check } from '../../spec/clauses/check.ts';
import { loadClauses } from '../../spec/clauses/registry.ts';
import { ERRNO_ALIASES, errnoName } from '../../spec/uapi/errno.ts';
import {
  IOMMU_TEST_OP_CREATE_ACCESS,
  VFIO_CHECK_EXTENSION,
  VFIO_GET_API_VERSION,
  VFIO_IOMMU_GET_INFO,
  VFIO_IOMMU_MAP_DMA,
  VFIO_IOMMU_UNMAP_DMA,
  VFIO_SET_IOMMU,
} from '../../spec/uapi/constants.ts';
import { buffer, ioasAlloc, map, NR, P, withEnv, STRUCT_OF, testCmd, type Env } from '../testing/testutil.ts';
import { mockDomain } from '../testing/devtestutil.ts';
import { sysRet } from '../process/file.ts';
import { iommufdCmd, iommufdIoctlDecode } from './main.ts';
import { layoutOf, UcmdStruct } from './ucmd.ts';

const u64 = fc.oneof(
  fc.constantFrom(0n, 1n, 0x1000n, 0xfffn, 1n << 24n, 1n << 31n, (1n << 64n) - 1n, 1n << 63n, 0x100000n),
  fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
);
const u32 = fc.oneof(fc.constantFrom(0, 1, 2, 3, 4, 5, 6, 7, 0xffffffff), fc.integer({ min: 0, max: 0xffffffff }));
const NRS = [NR.IOMMU_DESTROY, NR.IOMMU_IOAS_ALLOC, NR.IOMMU_IOAS_ALLOW_IOVAS, NR.IOMMU_IOAS_COPY, NR.IOMMU_IOAS_IOVA_RANGES, NR.IOMMU_IOAS_MAP, NR.IOMMU_IOAS_UNMAP, NR.IOMMU_OPTION, NR.IOMMU_VFIO_IOAS, NR.IOMMU_TEST_CMD];
const VFIO = [VFIO_GET_API_VERSION, VFIO_CHECK_EXTENSION, VFIO_SET_IOMMU, VFIO_IOMMU_GET_INFO, VFIO_IOMMU_MAP_DMA, VFIO_IOMMU_UNMAP_DMA];
/** The VFIO commands whose argument is an integer, not a pointer. */
const VFIO_INT_ARG = new Set([VFIO_CHECK_EXTENSION, VFIO_SET_IOMMU]);

/** The errnos the spec's errno clauses allow, by command ('' = clauses about no single command). */
const CLAUSE_ERRNOS = new Map<string, Set<string>>();
for (const c of await loadClauses()) {
  if (!c.errno) continue;
  const k = c.command ?? '';
  CLAUSE_ERRNOS.set(k, (CLAUSE_ERRNOS.get(k) ?? new Set()).add(ERRNO_ALIASES[c.errno] ?? c.errno));
}
/**
 * The VFIO compat map and unmap go through the same io_pagetable functions as
 * IOMMU_IOAS_MAP / _UNMAP (vfio_compat.c iommufd_vfio_map_dma →
 * iopt_map_user_pages, iommufd_vfio_unmap_dma → iopt_unmap_iova), so those
 * commands' errno clauses apply to them too.
 */
const SHARES_CLAUSES: { readonly [command: string]: string } = { VFIO_IOMMU_MAP_DMA: 'IOMMU_IOAS_MAP', VFIO_IOMMU_UNMAP_DMA: 'IOMMU_IOAS_UNMAP' };
/** Errnos of the selftest harness itself (selftest.c: the 16 MiB cap, iommufd_test_check_pages, limits). */
const TEST_HARNESS_ERRNOS = ['ENOMEM', 'EBADE', 'EOVERFLOW', 'EFAULT'];

interface Real {
  readonly env: Env;
  readonly buf: bigint;
}

/** Issue one ioctl and judge its answer (see the file comment). */
function issue(r: Real, cmd: number, arg: bigint, what: string): void {
  const { env } = r;
  const d = iommufdIoctlDecode(env.ctx, cmd, arg);
  const res = sysRet(env.ctx.file!.ops.ioctl!(env.ctx.file!, cmd, arg));
  expect(typeof res.errno).toBe('number');
  if (!d.ok) {
    expect({ what, errno: errnoName(res.errno) }).toEqual({ what, errno: errnoName(d.errno) });
  } else if (res.errno) {
    const name = d.command.name;
    const allowed = new Set([
      ...(CLAUSE_ERRNOS.get(name) ?? []),
      ...(CLAUSE_ERRNOS.get(SHARES_CLAUSES[name] ?? '') ?? []),
      ...(CLAUSE_ERRNOS.get('') ?? []),
      ...(name === 'IOMMU_TEST_CMD' ? TEST_HARNESS_ERRNOS : []),
    ]);
    const got = errnoName(res.errno) ?? String(res.errno);
    expect({ what, command: name, errno: got, allowed: allowed.has(got) }).toEqual({ what, command: name, errno: got, allowed: true });
  }
  expect(env.ctx.warnings).toEqual([]);
}

/** The argument's size word: the struct's, or short of the minimum, or longer with a (maybe non-zero) tail. */
type SizeChoice = { readonly kind: 'full' } | { readonly kind: 'short'; readonly by: number } | { readonly kind: 'long'; readonly extra: number; readonly tailByte: number };
const sizeArb: fc.Arbitrary<SizeChoice> = fc.oneof(
  { weight: 6, arbitrary: fc.constant({ kind: 'full' as const }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('short' as const), by: fc.integer({ min: 1, max: 64 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('long' as const), extra: fc.integer({ min: 1, max: 32 }), tailByte: fc.constantFrom(0, 0, 1, 0xff) }) },
);

class IommufdIoctl implements fc.Command<object, Real> {
  constructor(
    readonly nr: number,
    readonly vals: readonly (readonly [number, bigint])[],
    readonly op: number,
    readonly size: SizeChoice,
  ) {}
  check = (): boolean => true;
  run(_m: object, r: Real): void {
    const { env, buf } = r;
    const layout = layoutOf(STRUCT_OF[this.nr]!, env.profile);
    const s = new UcmdStruct(layout);
    const names = [...layout.fields.keys()].filter((n) => n !== 'size');
    names.forEach((name, i) => {
      const [a, b] = this.vals[i % this.vals.length]!;
      const f = layout.fields.get(name)!;
      // Pointers point at the buffer or somewhere wild; small ids stay small.
      if (f.type === 'u64') s.set(name, name.includes('uptr') || name.includes('user_va') || name.includes('iovas') ? (b % 3n === 0n ? buf + (b % 0x8000n) : b) : b);
      else s.set(name, name.endsWith('id') || name === 'op' ? a % 6 : a);
    });
    if (this.nr === NR.IOMMU_TEST_CMD) s.set('op', this.op);
    let bytes = s.bytes;
    if (this.size.kind === 'short') s.set('size', Math.max(0, layout.size - this.size.by));
    else if (this.size.kind === 'long') {
      s.set('size', layout.size + this.size.extra);
      bytes = new Uint8Array(layout.size + this.size.extra).fill(this.size.tailByte);
      bytes.set(s.bytes);
    } else s.set('size', layout.size);
    env.proc.copyToUser(env.scratch, bytes);
    issue(r, iommufdCmd(this.nr), env.scratch, this.toString());
  }
  toString = (): string => `ioctl(nr 0x${this.nr.toString(16)}${this.nr === NR.IOMMU_TEST_CMD ? ` op ${this.op}` : ''}, size ${JSON.stringify(this.size)})`;
}

class VfioIoctl implements fc.Command<object, Real> {
  constructor(
    readonly cmd: number,
    readonly words: readonly bigint[],
    readonly intArg: bigint,
  ) {}
  check = (): boolean => true;
  run(_m: object, r: Real): void {
    const { env } = r;
    // Raw words: the argsz rule is tested on its own bytes, not through our codec.
    const b = new DataView(new ArrayBuffer(this.words.length * 8));
    this.words.forEach((w, i) => b.setBigUint64(i * 8, w, true));
    b.setUint32(0, Number(this.words[0]! % 80n), true);
    env.proc.copyToUser(env.scratch, new Uint8Array(b.buffer));
    issue(r, this.cmd, VFIO_INT_ARG.has(this.cmd) ? this.intArg % 12n : env.scratch, this.toString());
  }
  toString = (): string => `vfio(0x${this.cmd.toString(16)})`;
}

const commandsArb = fc.commands<object, Real>(
  [
    fc.tuple(fc.constantFrom(...NRS), fc.array(fc.tuple(u32, u64), { minLength: 12, maxLength: 12 }), fc.integer({ min: 0, max: 16 }), sizeArb).map(([nr, vals, op, size]) => new IommufdIoctl(nr, vals, op, size)),
    fc.tuple(fc.constantFrom(...VFIO), fc.array(u64, { minLength: 4, maxLength: 4 }), u64).map(([cmd, words, intArg]) => new VfioIoctl(cmd, words, intArg)),
  ],
  { maxCommands: 25 },
);

describe('robustness', () => {
  check('ref.fuzz.never-throws', () => {
    fc.assert(
      fc.property(commandsArb, (cmds) =>
        withEnv((env) => {
          const ioas = ioasAlloc(env);
          expect(mockDomain(env, ioas).errno).toBe(0);
          expect(testCmd(env, IOMMU_TEST_OP_CREATE_ACCESS, ioas, { 'create_access.flags': 1 }).errno).toBe(0);
          const buf = buffer(env, 8 * 4096);
          map(env, ioas, buf, 8n * P, 1n << 24n);
          fc.modelRun(() => ({ model: {}, real: { env, buf } }), cmds);
          env.proc.fds.closeAll();
          expect(env.ctx.warnings).toEqual([]);
          expect(env.proc.totalPins).toBe(0);
          expect(env.proc.pinnedVm).toBe(0);
        }),
      ),
    );
  }); // no own bound: vitest.config.ts's hang guard grows with the property budget
});
