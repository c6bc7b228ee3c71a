/**
 * Test helpers for the reference core (test support: only test files import
 * impl/testing/, never production code — the lint's dependency rules say so):
 * a fresh process and
 * iommufd context, ioctls built from named fields and issued through the real
 * dispatch (the struct is placed in the process's memory like a syscall
 * argument), and a recording IoptDomain for io_pagetable tests.
 */
import { PhysMemoryPool, Process, PROT_RW } from '../process/index.ts';
import { machineFor } from '../platform/index.ts';
import type { Profile } from '../../spec/uapi/profiles.ts';
import { commandByName, commandsFor } from '../../spec/uapi/lookup.ts';
import { IOMMU_IOAS_MAP_FIXED_IOVA, IOMMU_IOAS_MAP_READABLE, IOMMU_IOAS_MAP_WRITEABLE } from '../../spec/uapi/constants.ts';
import { ENOMEM } from '../lib/errno.ts';
import { iommufdCmd, iommufdFopsOpen } from '../iommufd/main.ts';
import type { IommufdCtx, IoPagetable, IoptDomain } from '../iommufd/iommufd_private.ts';
import { layoutOf, UcmdStruct } from '../iommufd/ucmd.ts';
import { sysRet, type KFile } from '../process/file.ts';

const NR_NAMES = [
  'IOMMU_DESTROY',
  'IOMMU_IOAS_ALLOC',
  'IOMMU_IOAS_ALLOW_IOVAS',
  'IOMMU_IOAS_COPY',
  'IOMMU_IOAS_IOVA_RANGES',
  'IOMMU_IOAS_MAP',
  'IOMMU_IOAS_UNMAP',
  'IOMMU_OPTION',
  'IOMMU_VFIO_IOAS',
  'IOMMU_TEST_CMD',
] as const;

/** Command numbers (spec/uapi; the same in both profiles). */
export const NR = Object.fromEntries(NR_NAMES.map((n) => [n, commandByName('6.12', n)!.nr])) as { readonly [K in (typeof NR_NAMES)[number]]: number };

/** The argument struct of each iommufd command number (spec/uapi). */
export const STRUCT_OF: { readonly [nr: number]: string } = Object.fromEntries(
  commandsFor('6.12')
    .filter((c) => c.fd === 'iommufd' && c.arg === 'extensible' && c.struct)
    .map((c) => [c.nr, c.struct!]),
);

export const P = 4096n;
/** Simulated RAM of a test process (user pages + page tables). */
export const TEST_PHYS_MEMORY = 64 * 1024 * 1024;
export const U64_MAX = (1n << 64n) - 1n;

export interface Env {
  proc: Process;
  ctx: IommufdCtx;
  file: KFile;
  fd: number;
  profile: Profile;
  /** Scratch memory for ioctl arguments. */
  scratch: bigint;
}

/** Memories of envs given back (releaseEnv, withEnv), for the next newEnv. */
const testMemories = new PhysMemoryPool(TEST_PHYS_MEMORY);

export function newEnv(profile: Profile = '6.12', opts: { viaVfioContainer?: boolean } = {}): Env {
  // One physical memory for the process's pages and the machine's page tables.
  const proc = new Process(testMemories.take());
  proc.rlimitMemlock = null;
  const { ctx, file } = iommufdFopsOpen(proc, () => machineFor(proc, profile), profile, opts);
  const fd = proc.fds.install(file);
  const scratch = proc.mmap(64 * 1024)!;
  return { proc, ctx, file, fd, profile, scratch };
}

/**
 * Gives an env's memory back for the next newEnv: for loops that build an env
 * per case (a property's runs, a fail-nth sweep), which otherwise spent most
 * of their time collecting a fresh 64 MiB memory per case. What was built on
 * the memory is garbage from then on (nothing outside the env refers to it):
 * the env must not be used again.
 */
export function releaseEnv(env: Env): void {
  testMemories.give(env.proc.phys);
}

/** `run` on a new env, released when it returns or throws. */
export function withEnv<T>(run: (env: Env) => T, profile: Profile = '6.12'): T {
  const env = newEnv(profile);
  try {
    return run(env);
  } finally {
    releaseEnv(env);
  }
}

export type Fields = { readonly [name: string]: number | bigint };

export interface CallResult {
  errno: number;
  ret: number;
  out: UcmdStruct;
}

/** An iommufd ioctl with the struct built from `fields` (size defaults to the full struct). */
export function ioctl(env: Env, nr: number, fields: Fields, opts: { tail?: Uint8Array; arg?: bigint; prepareOnly?: boolean } = {}): CallResult {
  const layout = layoutOf(STRUCT_OF[nr]!, env.profile);
  const s = new UcmdStruct(layout);
  s.set('size', layout.size + (opts.tail?.length ?? 0));
  for (const [k, v] of Object.entries(fields)) s.set(k, v);
  const bytes = new Uint8Array(layout.size + (opts.tail?.length ?? 0));
  bytes.set(s.bytes);
  if (opts.tail) bytes.set(opts.tail, layout.size);
  const arg = opts.arg ?? env.scratch;
  if (opts.arg === undefined || opts.prepareOnly) env.proc.copyToUser(arg, bytes);
  // prepareOnly: place the struct at `arg` without issuing the ioctl.
  if (opts.prepareOnly) return { errno: 0, ret: 0, out: s };
  const r = sysRet(env.ctx.file!.ops.ioctl!(env.ctx.file!, iommufdCmd(nr), arg));
  const back = env.proc.copyFromUser(arg, layout.size) ?? new Uint8Array(layout.size);
  return { errno: r.errno, ret: r.ret, out: new UcmdStruct(layout, back) };
}

/** Allocate a user buffer (hugepage aligned, like the selftest's). */
export function buffer(env: Env, length: number): bigint {
  return env.proc.mmap(length, PROT_RW, true)!;
}

export function ioasAlloc(env: Env): number {
  const r = ioctl(env, NR.IOMMU_IOAS_ALLOC, {});
  if (r.errno) throw new Error(`IOAS_ALLOC failed: ${r.errno}`);
  return r.out.num('out_ioas_id');
}

export const MAP_FIXED = IOMMU_IOAS_MAP_FIXED_IOVA;
export const MAP_W = IOMMU_IOAS_MAP_WRITEABLE;
export const MAP_R = IOMMU_IOAS_MAP_READABLE;

export function map(env: Env, ioas: number, uva: bigint, length: bigint, iova?: bigint, flags = MAP_R | MAP_W): { errno: number; iova: bigint } {
  const r = ioctl(env, NR.IOMMU_IOAS_MAP, {
    ioas_id: ioas,
    user_va: uva,
    length,
    iova: iova ?? 0n,
    flags: flags | (iova !== undefined ? MAP_FIXED : 0),
  });
  return { errno: r.errno, iova: r.out.big('iova') };
}

export function unmap(env: Env, ioas: number, iova: bigint, length: bigint): { errno: number; length: bigint } {
  const r = ioctl(env, NR.IOMMU_IOAS_UNMAP, { ioas_id: ioas, iova, length });
  return { errno: r.errno, length: r.out.big('length') };
}

/** IOAS_IOVA_RANGES into a scratch array: the ranges and the alignment. */
export function iovaRanges(env: Env, ioas: number, cap = 16): { errno: number; num: number; ranges: [bigint, bigint][]; alignment: bigint } {
  const arr = env.scratch + 4096n;
  const r = ioctl(env, NR.IOMMU_IOAS_IOVA_RANGES, { ioas_id: ioas, num_iovas: cap, allowed_iovas: arr });
  const num = r.out.num('num_iovas');
  const bytes = env.proc.copyFromUser(arr, 16 * Math.min(num, cap))!;
  const v = new DataView(bytes.buffer);
  const ranges: [bigint, bigint][] = [];
  for (let i = 0; i < Math.min(num, cap); i++) ranges.push([v.getBigUint64(16 * i, true), v.getBigUint64(16 * i + 8, true)]);
  return { errno: r.errno, num, ranges, alignment: r.out.big('out_iova_alignment') };
}

/** Write an array of iommu_iova_range at `at`. */
export function writeRanges(env: Env, at: bigint, ranges: readonly (readonly [bigint, bigint])[]): void {
  const b = new Uint8Array(16 * ranges.length);
  const v = new DataView(b.buffer);
  ranges.forEach(([s, l], i) => {
    v.setBigUint64(16 * i, s, true);
    v.setBigUint64(16 * i + 8, l, true);
  });
  env.proc.copyToUser(at, b);
}

export function testCmd(env: Env, op: number, id: number, fields: Fields): CallResult {
  return ioctl(env, NR.IOMMU_TEST_CMD, { op, id, ...fields });
}

/** A recording paging domain: what is mapped where, with Linux's map/unmap contract. */
export class FakeDomain implements IoptDomain {
  readonly map4k = new Map<bigint, { pa: number; prot: number }>();
  failAfter = -1;
  maps = 0;
  constructor(
    readonly pgsizeBitmap: bigint = 0xfffff000n,
    readonly apertureStart: bigint = 0n,
    readonly apertureEnd: bigint = U64_MAX,
    readonly granule = 4096,
  ) {}
  map(iova: bigint, pa: number, size: number, prot: number): number {
    if (this.failAfter >= 0 && this.maps >= this.failAfter) return -ENOMEM;
    this.maps++;
    for (let off = 0; off < size; off += this.granule) {
      const key = iova + BigInt(off);
      if (this.map4k.has(key)) throw new Error(`double map at ${key.toString(16)}`);
      this.map4k.set(key, { pa: pa + off, prot });
    }
    return 0;
  }
  unmap(iova: bigint, size: number): number {
    let n = 0;
    for (let off = 0; off < size; off += this.granule) if (this.map4k.delete(iova + BigInt(off))) n += this.granule;
    return n;
  }
}

/**
 * A comparable picture of everything an ioctl could change: objects and their
 * users, each IOAS's areas/reserved/allowed/alignment and domains' mappings,
 * pins and locked-memory counters.
 */
export function snapshot(env: Env, domains: readonly FakeDomain[] = []): string {
  const objs = env.ctx.objects.entries().map(([id, o]) => {
    const iopt = (o as { iopt?: IoPagetable }).iopt;
    return {
      id,
      type: o.type,
      users: o.users,
      iopt: iopt && {
        areas: iopt.areas.map((a) => [a.start, a.last, a.iommuProt, a.numAccesses, a.filled, a.pages?.kref]),
        reserved: iopt.reserved.map((r) => [r.start, r.last]),
        allowed: iopt.allowed.map((r) => [r.start, r.last]),
        align: iopt.iovaAlignment,
        huge: iopt.disableLargePages,
        domains: iopt.domains.length,
        accesses: iopt.accessList.size,
      },
    };
  });
  const p = env.proc;
  const state = {
    objs,
    reservedSlots: env.ctx.objects.size,
    vfio: env.ctx.vfioIoas?.id ?? null,
    mode: env.ctx.accountMode,
    pins: p.totalPins,
    pinnedVm: p.pinnedVm,
    lockedVm: p.lockedVm,
    userLockedVm: p.user.lockedVm,
    fds: p.fds.openFds.length,
    // Both kinds of pages of the one physical memory: page tables, and data pages the process does not hold.
    tablePages: p.phys.tablePages,
    dataPagesNotHeld: p.phys.dataPages - p.residentPages,
    domains: domains.map((d) => [...d.map4k.entries()].map(([k, v]) => [k, v.pa, v.prot])),
  };
  return JSON.stringify(state, (_k, v: unknown) => (typeof v === 'bigint' ? `0x${v.toString(16)}` : v));
}

/**
 * Pages of the one physical memory still allocated once every file is
 * closed: any page-table page, or a data page the process does not hold
 * (mapped, or unmapped but pinned). '' when none.
 */
export function physLeak(env: Env): string {
  const { phys } = env.proc;
  const out: string[] = [];
  if (phys.tablePages) out.push(`${phys.tablePages} page-table pages`);
  if (phys.dataPages !== env.proc.residentPages) out.push(`${phys.dataPages} data pages, ${env.proc.residentPages} held by the process`);
  return out.join(', ');
}

export interface SweepResult {
  /** Runs with an injected failure. */
  readonly injected: number;
  /** Errnos the failing runs returned, by n. */
  readonly errnos: readonly number[];
}

/**
 * The fail-nth sweep (tools/testing/selftests/iommu/iommufd_fail_nth.c): run
 * `op` on a fresh `setup()` world failing the 1st, 2nd, ... fallible step
 * until a run sees no injected failure. After each failed run the state must
 * equal the state before the op (atomic failure) and, after closing
 * everything, nothing may stay pinned or charged.
 */
export function sweepFailNth(
  setup: () => { env: Env; domains?: FakeDomain[] },
  op: (env: Env) => number,
  opts: { maxN?: number; teardown?: (env: Env) => void } = {},
): SweepResult {
  const errnos: number[] = [];
  for (let n = 1; n <= (opts.maxN ?? 400); n++) {
    const { env, domains = [] } = setup();
    try {
      const r = sweepOnce(n, env, domains, op, opts, errnos);
      if (r !== undefined) return r;
    } finally {
      releaseEnv(env);
    }
  }
  throw new Error('fail-nth sweep did not converge');
}

/** Run n of the sweep: its result when no failure was injected (the sweep is over), else undefined. */
function sweepOnce(n: number, env: Env, domains: FakeDomain[], op: (env: Env) => number, opts: { teardown?: (env: Env) => void }, errnos: number[]): SweepResult | undefined {
  const before = snapshot(env, domains);
  env.proc.faults.arm(n);
  const rc = op(env);
  env.proc.faults.disarm();
  if (!env.proc.faults.injected) {
    if (rc) throw new Error(`clean run (n=${n}) failed with ${rc}`);
    return { injected: n - 1, errnos };
  }
  if (env.proc.faults.absorbed) {
    // The injection fell on a step the kernel retries away: the op must succeed.
    if (rc) throw new Error(`fail-nth ${n}: an absorbed injection made the op fail with ${rc}`);
    opts.teardown?.(env);
    env.proc.fds.closeAll();
    return undefined;
  }
  if (rc === 0) throw new Error(`fail-nth ${n}: a failure was injected but the op succeeded`);
  errnos.push(rc);
  const after = snapshot(env, domains);
  if (after !== before) throw new Error(`fail-nth ${n} (errno ${rc}): state changed\nbefore ${before}\nafter  ${after}`);
  opts.teardown?.(env);
  env.proc.fds.closeAll();
  if (env.proc.totalPins || env.proc.pinnedVm || env.proc.lockedVm || env.proc.user.lockedVm)
    throw new Error(`fail-nth ${n}: leak after close: pins ${env.proc.totalPins}, pinned_vm ${env.proc.pinnedVm}`);
  const leak = physLeak(env);
  if (leak) throw new Error(`fail-nth ${n}: leak after close: ${leak}`);
  return undefined;
}
