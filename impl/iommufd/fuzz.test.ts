/**
 * The reference never throws on bad input: random field values (extremes,
 * small ids, live IOVAs, wild pointers) for every core command, including
 * VFIO compat and the core test ops, on a context with a mock domain, an
 * access and mappings. Each call must return an errno (or success), and the
 * context must still close cleanly with nothing pinned.
 */
import { describe, expect } from 'vitest';
import { sysRet } from '../process/file.ts';
import fc from 'fast-check';
import { check } from '../../spec/clauses/check.ts';
import { buffer, ioasAlloc, map, NR, newEnv, P, STRUCT_OF, testCmd } from '../testing/testutil.ts';
import { iommufdCmd } from './main.ts';
import { layoutOf, UcmdStruct } from './ucmd.ts';
import { IOMMU_TEST_OP_CREATE_ACCESS, IOMMU_TEST_OP_MOCK_DOMAIN } from '../../spec/uapi/constants.ts';
import { VFIO_CHECK_EXTENSION, VFIO_GET_API_VERSION, VFIO_IOMMU_GET_INFO, VFIO_IOMMU_MAP_DMA, VFIO_IOMMU_UNMAP_DMA, VFIO_SET_IOMMU } from '../../spec/uapi/constants.ts';

const u64 = fc.oneof(
  fc.constantFrom(0n, 1n, 0x1000n, 0xfffn, 1n << 24n, 1n << 31n, (1n << 64n) - 1n, (1n << 63n), 0x100000n),
  fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
);
const u32 = fc.oneof(fc.constantFrom(0, 1, 2, 3, 4, 5, 6, 7, 0xffffffff), fc.integer({ min: 0, max: 0xffffffff }));
const NRS = [NR.IOMMU_DESTROY, NR.IOMMU_IOAS_ALLOC, NR.IOMMU_IOAS_ALLOW_IOVAS, NR.IOMMU_IOAS_COPY, NR.IOMMU_IOAS_IOVA_RANGES, NR.IOMMU_IOAS_MAP, NR.IOMMU_IOAS_UNMAP, NR.IOMMU_OPTION, NR.IOMMU_VFIO_IOAS, NR.IOMMU_TEST_CMD];
const VFIO = [VFIO_GET_API_VERSION, VFIO_CHECK_EXTENSION, VFIO_SET_IOMMU, VFIO_IOMMU_GET_INFO, VFIO_IOMMU_MAP_DMA, VFIO_IOMMU_UNMAP_DMA, 0x3b75];

const callArb = fc.oneof(
  fc.record({ kind: fc.constant('iommufd' as const), nr: fc.constantFrom(...NRS), vals: fc.array(fc.tuple(u32, u64), { minLength: 12, maxLength: 12 }), op: fc.integer({ min: 0, max: 16 }) }),
  fc.record({ kind: fc.constant('vfio' as const), cmd: fc.constantFrom(...VFIO), words: fc.array(u64, { minLength: 4, maxLength: 4 }), intArg: u64 }),
);

describe('robustness', () => {
  check('ref.fuzz.never-throws', () => {
    fc.assert(
      fc.property(fc.array(callArb, { minLength: 1, maxLength: 25 }), (calls) => {
        const env = newEnv();
        const ioas = ioasAlloc(env);
        expect(testCmd(env, IOMMU_TEST_OP_MOCK_DOMAIN, ioas, {}).errno).toBe(0);
        expect(testCmd(env, IOMMU_TEST_OP_CREATE_ACCESS, ioas, { 'create_access.flags': 1 }).errno).toBe(0);
        const buf = buffer(env, 8 * 4096);
        map(env, ioas, buf, 8n * P, 1n << 24n);
        const file = env.ctx.file!;
        for (const c of calls) {
          let rc;
          if (c.kind === 'iommufd') {
            const layout = layoutOf(STRUCT_OF[c.nr]!, env.profile);
            const s = new UcmdStruct(layout);
            const names = [...layout.fields.keys()].filter((n) => n !== 'size');
            names.forEach((name, i) => {
              const [a, b] = c.vals[i % c.vals.length]!;
              const f = layout.fields.get(name)!;
              // Pointers point at the buffer or somewhere wild; small ids stay small.
              if (f.type === 'u64') s.set(name, name.includes('uptr') || name.includes('user_va') || name.includes('iovas') ? (b % 3n === 0n ? buf + (b % 0x8000n) : b) : b);
              else s.set(name, name.endsWith('id') || name === 'op' ? a % 6 : a);
            });
            s.set('size', layout.size);
            if (c.nr === NR.IOMMU_TEST_CMD) s.set('op', c.op);
            env.proc.copyToUser(env.scratch, s.bytes);
            rc = sysRet(file.ops.ioctl!(file, iommufdCmd(c.nr), env.scratch));
          } else {
            const b = new DataView(new ArrayBuffer(32));
            c.words.forEach((w, i) => b.setBigUint64(i * 8, w, true));
            b.setUint32(0, Number(c.words[0]! % 80n), true);
            env.proc.copyToUser(env.scratch, new Uint8Array(b.buffer));
            rc = sysRet(file.ops.ioctl!(file, c.cmd, c.cmd === VFIO_CHECK_EXTENSION || c.cmd === VFIO_SET_IOMMU ? c.intArg % 12n : env.scratch));
          }
          expect(typeof rc.errno).toBe('number');
        }
        env.proc.fds.closeAll();
        expect(env.ctx.warnings).toEqual([]);
        expect(env.proc.totalPins).toBe(0);
        expect(env.proc.pinnedVm).toBe(0);
      }),
      { seed: 4242, numRuns: 120 },
    );
  });
});
