import { describe, expect } from 'vitest';
import { sysRet } from '../process/file.ts';
import { check } from '../../spec/clauses/check.ts';
import { E2BIG, EBUSY, EFAULT, EINVAL, EMSGSIZE, ENODEV, ENOENT, ENOTTY, EOPNOTSUPP, EPERM } from '../lib/errno.ts';
import { iommufdCmd } from './main.ts';
import { ioasAlloc, ioctl, iovaRanges, NR, newEnv, U64_MAX, writeRanges, type Env } from '../testing/testutil.ts';
import * as accessApi from './access.ts';
import { iommufdAccessCreate } from './access.ts';
import { ERRNO } from '../../spec/uapi/errno.ts';

function raw(env: Env, cmd: number, arg: bigint) {
  return sysRet(env.ctx.file!.ops.ioctl!(env.ctx.file!, cmd, arg));
}

describe('dispatch (main.c: iommufd_fops_ioctl)', () => {
  check('ref.dispatch.null-arg-efault', () => {
    const env = newEnv();
    expect(raw(env, iommufdCmd(NR.IOMMU_DESTROY), 0n).errno).toBe(EFAULT);
  });
  check('ref.dispatch.unknown-nr-enotty', () => {
    const env = newEnv();
    // Empty slot inside the table: size is read first (NULL -> EFAULT), then ENOTTY.
    expect(raw(env, iommufdCmd(0x9f), 0n).errno).toBe(EFAULT);
    env.proc.copyToUser(env.scratch, new Uint8Array([8, 0, 0, 0]));
    expect(raw(env, iommufdCmd(0x9f), env.scratch).errno).toBe(ENOTTY);
    // Outside the table: VFIO compat, unknown there -> ENOTTY without reading anything.
    expect(raw(env, iommufdCmd(0xa1), 0n).errno).toBe(ENOTTY);
    // Right nr, wrong type byte: ENOTTY after the size read.
    expect(raw(env, (0x3c << 8) | NR.IOMMU_DESTROY, env.scratch).errno).toBe(ENOTTY);
  });
  check('ref.dispatch.short-struct-einval', () => {
    const env = newEnv();
    env.proc.copyToUser(env.scratch, new Uint8Array([4, 0, 0, 0, 1, 0, 0, 0]));
    expect(raw(env, iommufdCmd(NR.IOMMU_DESTROY), env.scratch).errno).toBe(EINVAL);
  });
  check('ref.dispatch.nonzero-tail-e2big', () => {
    const env = newEnv();
    expect(ioctl(env, NR.IOMMU_IOAS_ALLOC, {}, { tail: new Uint8Array([0, 0, 1, 0]) }).errno).toBe(E2BIG);
    // A huge size: the zero tail is read page by page until it faults (EFAULT), never buffered whole.
    const big = env.proc.mmap(8192)!;
    env.proc.copyToUser(big, new Uint8Array([0xff, 0xff, 0xff, 0xff]));
    expect(raw(env, iommufdCmd(NR.IOMMU_IOAS_ALLOC), big).errno).toBe(EFAULT);
    env.proc.copyToUser(big + 4096n, new Uint8Array([0, 1]));
    expect(raw(env, iommufdCmd(NR.IOMMU_IOAS_ALLOC), big).errno).toBe(E2BIG);
    const ok = ioctl(env, NR.IOMMU_IOAS_ALLOC, {}, { tail: new Uint8Array(8) });
    expect(ok.errno).toBe(0);
    expect(ok.out.num('out_ioas_id')).toBe(1);
  });
});

describe('object ids and IOMMU_DESTROY (main.c)', () => {
  check('ref.objects.lowest-free-id', () => {
    const env = newEnv();
    expect([ioasAlloc(env), ioasAlloc(env), ioasAlloc(env)]).toEqual([1, 2, 3]);
    expect(ioctl(env, NR.IOMMU_DESTROY, { id: 2 }).errno).toBe(0);
    expect(ioasAlloc(env)).toBe(2);
    expect(ioasAlloc(env)).toBe(4);
  });
  check('ref.destroy.enoent', () => {
    const env = newEnv();
    expect(ioctl(env, NR.IOMMU_DESTROY, { id: 1 }).errno).toBe(ENOENT);
    ioasAlloc(env);
    expect(ioctl(env, NR.IOMMU_DESTROY, { id: 1 }).errno).toBe(0);
    expect(ioctl(env, NR.IOMMU_DESTROY, { id: 1 }).errno).toBe(ENOENT);
  });
  check('ref.destroy.ebusy-when-referenced', () => {
    const env = newEnv();
    const ioas = ioasAlloc(env);
    const a = iommufdAccessCreate(env.ctx, { needsPinPages: false, unmap: () => {} });
    expect(a.errno).toBe(0);
    // The access is held by its driver: DESTROY of it is always EBUSY.
    expect(ioctl(env, NR.IOMMU_DESTROY, { id: a.value!.id }).errno).toBe(EBUSY);
    // Attached access holds the IOAS.
    const { iommufdAccessAttach, iommufdAccessDestroy } = accessApi;
    expect(iommufdAccessAttach(a.value!, ioas)).toBe(0);
    expect(ioctl(env, NR.IOMMU_DESTROY, { id: ioas }).errno).toBe(EBUSY);
    iommufdAccessDestroy(a.value!);
    expect(ioctl(env, NR.IOMMU_DESTROY, { id: ioas }).errno).toBe(0);
  });
  check('ref.release.leaves-first', () => {
    const env = newEnv();
    const ioas = ioasAlloc(env);
    const a = iommufdAccessCreate(env.ctx, { needsPinPages: false, unmap: () => {} });
    accessApi.iommufdAccessAttach(a.value!, ioas);
    // The access holds the ctx file: closing the fd does not release while it exists.
    env.proc.fds.close(env.fd);
    expect(env.file.released).toBe(false);
    accessApi.iommufdAccessDestroy(a.value!);
    expect(env.file.released).toBe(true);
    expect(env.ctx.objects.empty).toBe(true);
  });
});

describe('IOMMU_IOAS_ALLOC / IOVA_RANGES / ALLOW_IOVAS (ioas.c)', () => {
  check('ref.ioas_alloc.errno-order', () => {
    const env = newEnv();
    expect(ioctl(env, NR.IOMMU_IOAS_ALLOC, { flags: 1 }).errno).toBe(EOPNOTSUPP);
    expect(env.ctx.objects.empty).toBe(true);
  });
  check('ref.ioas_alloc.copyback-fault-aborts', () => {
    const env = newEnv();
    // A read-only argument: the copy-back faults and the new IOAS is aborted.
    const ro = env.proc.mmap(4096)!;
    const b = new Uint8Array(12);
    b[0] = 12;
    env.proc.copyToUser(ro, b);
    env.proc.mprotect(ro, 4096, { read: true, write: false });
    expect(raw(env, iommufdCmd(NR.IOMMU_IOAS_ALLOC), ro).errno).toBe(EFAULT);
    expect(env.ctx.objects.empty).toBe(true);
    expect(ioasAlloc(env)).toBe(1);
  });
  check('ref.ioas_iova_ranges.fresh', () => {
    const env = newEnv();
    const ioas = ioasAlloc(env);
    const r = iovaRanges(env, ioas);
    expect(r.errno).toBe(0);
    expect(r.ranges).toEqual([[0n, U64_MAX]]);
    expect(r.alignment).toBe(1n);
  });
  check('ref.ioas_iova_ranges.emsgsize', () => {
    const env = newEnv();
    const ioas = ioasAlloc(env);
    const iopt = (env.ctx.objects.load(ioas) as unknown as { iopt: import('./iommufd_private.ts').IoPagetable }).iopt;
    iopt.reserved.push({ start: 0x1000n, last: 0x1fffn, owner: null });
    const r0 = iovaRanges(env, ioas, 0);
    expect(r0.errno).toBe(EMSGSIZE);
    expect(r0.num).toBe(2);
    const r1 = iovaRanges(env, ioas, 1);
    expect(r1.errno).toBe(EMSGSIZE);
    expect(r1.ranges).toEqual([[0n, 0xfffn]]);
    const r2 = iovaRanges(env, ioas, 2);
    expect(r2.errno).toBe(0);
    expect(r2.ranges).toEqual([[0n, 0xfffn], [0x2000n, U64_MAX]]);
  });
  check('ref.ioas_iova_ranges.errno-order', () => {
    const env = newEnv();
    expect(ioctl(env, NR.IOMMU_IOAS_IOVA_RANGES, { ioas_id: 9, __reserved: 1 }).errno).toBe(EOPNOTSUPP);
    expect(ioctl(env, NR.IOMMU_IOAS_IOVA_RANGES, { ioas_id: 9 }).errno).toBe(ENOENT);
    const ioas = ioasAlloc(env);
    expect(ioctl(env, NR.IOMMU_IOAS_IOVA_RANGES, { ioas_id: ioas, num_iovas: 1, allowed_iovas: 8n }).errno).toBe(EFAULT);
  });
  check('ref.ioas_allow_iovas.errno-order', () => {
    const env = newEnv();
    const arr = env.scratch + 8192n;
    expect(ioctl(env, NR.IOMMU_IOAS_ALLOW_IOVAS, { ioas_id: 7, __reserved: 1 }).errno).toBe(EOPNOTSUPP);
    expect(ioctl(env, NR.IOMMU_IOAS_ALLOW_IOVAS, { ioas_id: 7, num_iovas: 1, allowed_iovas: arr }).errno).toBe(ENOENT);
    const ioas = ioasAlloc(env);
    expect(ioctl(env, NR.IOMMU_IOAS_ALLOW_IOVAS, { ioas_id: ioas, num_iovas: 1, allowed_iovas: 8n }).errno).toBe(EFAULT);
    writeRanges(env, arr, [[0x1000n, 0x1000n]]);
    expect(ioctl(env, NR.IOMMU_IOAS_ALLOW_IOVAS, { ioas_id: ioas, num_iovas: 1, allowed_iovas: arr }).errno).toBe(EINVAL);
    writeRanges(env, arr, [[0x1000n, 0x1fffn], [0x1800n, 0x2fffn]]);
    expect(ioctl(env, NR.IOMMU_IOAS_ALLOW_IOVAS, { ioas_id: ioas, num_iovas: 2, allowed_iovas: arr }).errno).toBe(EINVAL);
    // Reserved intersecting -> EADDRINUSE and the old list stays.
    writeRanges(env, arr, [[0x10000n, 0x1ffffn]]);
    expect(ioctl(env, NR.IOMMU_IOAS_ALLOW_IOVAS, { ioas_id: ioas, num_iovas: 1, allowed_iovas: arr }).errno).toBe(0);
    const iopt = (env.ctx.objects.load(ioas) as unknown as { iopt: import('./iommufd_private.ts').IoPagetable }).iopt;
    iopt.reserved.push({ start: 0x40000n, last: 0x40fffn, owner: null });
    writeRanges(env, arr, [[0x40000n, 0x4ffffn]]);
    expect(ioctl(env, NR.IOMMU_IOAS_ALLOW_IOVAS, { ioas_id: ioas, num_iovas: 1, allowed_iovas: arr }).errno).toBe(ERRNO.EADDRINUSE);
    expect(iopt.allowed).toEqual([{ start: 0x10000n, last: 0x1ffffn }]);
    // num_iovas = 0 clears.
    expect(ioctl(env, NR.IOMMU_IOAS_ALLOW_IOVAS, { ioas_id: ioas, num_iovas: 0 }).errno).toBe(0);
    expect(iopt.allowed).toEqual([]);
  });
});

describe('IOMMU_OPTION (main.c, ioas.c)', () => {
  const RLIMIT = 0;
  const HUGE = 1;
  const SET = 0;
  const GET = 1;
  check('ref.option.errno-order', () => {
    const env = newEnv();
    expect(ioctl(env, NR.IOMMU_OPTION, { option_id: RLIMIT, op: GET, __reserved: 1 }).errno).toBe(EOPNOTSUPP);
    expect(ioctl(env, NR.IOMMU_OPTION, { option_id: 7, op: GET }).errno).toBe(EOPNOTSUPP);
    expect(ioctl(env, NR.IOMMU_OPTION, { option_id: RLIMIT, op: GET, object_id: 1 }).errno).toBe(EOPNOTSUPP);
    expect(ioctl(env, NR.IOMMU_OPTION, { option_id: RLIMIT, op: SET, val64: 1n }).errno).toBe(EPERM);
    env.proc.capSysResource = true;
    expect(ioctl(env, NR.IOMMU_OPTION, { option_id: RLIMIT, op: SET, val64: 2n }).errno).toBe(EINVAL);
    expect(ioctl(env, NR.IOMMU_OPTION, { option_id: RLIMIT, op: 5 }).errno).toBe(EOPNOTSUPP);
    expect(ioctl(env, NR.IOMMU_OPTION, { option_id: RLIMIT, op: SET, val64: 1n }).errno).toBe(0);
    expect(ioctl(env, NR.IOMMU_OPTION, { option_id: RLIMIT, op: GET }).out.big('val64')).toBe(1n);
    ioasAlloc(env);
    expect(ioctl(env, NR.IOMMU_OPTION, { option_id: RLIMIT, op: SET, val64: 0n }).errno).toBe(EBUSY);
    // HUGE_PAGES: lookup first, even for a bad op.
    expect(ioctl(env, NR.IOMMU_OPTION, { option_id: HUGE, op: 9, object_id: 0 }).errno).toBe(ENOENT);
    expect(ioctl(env, NR.IOMMU_OPTION, { option_id: HUGE, op: 9, object_id: 1 }).errno).toBe(EOPNOTSUPP);
    expect(ioctl(env, NR.IOMMU_OPTION, { option_id: HUGE, op: SET, object_id: 1, val64: 2n }).errno).toBe(EINVAL);
    expect(ioctl(env, NR.IOMMU_OPTION, { option_id: HUGE, op: GET, object_id: 1 }).out.big('val64')).toBe(1n);
    expect(ioctl(env, NR.IOMMU_OPTION, { option_id: HUGE, op: SET, object_id: 1, val64: 0n }).errno).toBe(0);
    expect(ioctl(env, NR.IOMMU_OPTION, { option_id: HUGE, op: GET, object_id: 1 }).out.big('val64')).toBe(0n);
    expect(iovaRanges(env, 1).alignment).toBe(4096n);
  });
  check('ref.option.vfio-container-starts-mm', () => {
    const env = newEnv('6.12', { viaVfioContainer: true });
    expect(ioctl(env, NR.IOMMU_OPTION, { option_id: RLIMIT, op: GET }).out.big('val64')).toBe(1n);
  });
});

describe('IOMMU_VFIO_IOAS (vfio_compat.c)', () => {
  const GET = 0;
  const SETOP = 1;
  const CLEAR = 2;
  check('ref.vfio_ioas.errno-order', () => {
    const env = newEnv();
    expect(ioctl(env, NR.IOMMU_VFIO_IOAS, { op: GET, __reserved: 1 }).errno).toBe(EOPNOTSUPP);
    expect(ioctl(env, NR.IOMMU_VFIO_IOAS, { op: 3 }).errno).toBe(EOPNOTSUPP);
    expect(ioctl(env, NR.IOMMU_VFIO_IOAS, { op: GET }).errno).toBe(ENODEV);
    expect(ioctl(env, NR.IOMMU_VFIO_IOAS, { op: SETOP, ioas_id: 1 }).errno).toBe(ENOENT);
    const ioas = ioasAlloc(env);
    expect(ioctl(env, NR.IOMMU_VFIO_IOAS, { op: SETOP, ioas_id: ioas }).errno).toBe(0);
    expect(ioctl(env, NR.IOMMU_VFIO_IOAS, { op: GET }).out.num('ioas_id')).toBe(ioas);
    // SET takes no reference: the IOAS can still be destroyed, which clears it.
    expect(ioctl(env, NR.IOMMU_DESTROY, { id: ioas }).errno).toBe(0);
    expect(ioctl(env, NR.IOMMU_VFIO_IOAS, { op: GET }).errno).toBe(ENODEV);
    const ioas2 = ioasAlloc(env);
    ioctl(env, NR.IOMMU_VFIO_IOAS, { op: SETOP, ioas_id: ioas2 });
    expect(ioctl(env, NR.IOMMU_VFIO_IOAS, { op: CLEAR }).errno).toBe(0);
    expect(ioctl(env, NR.IOMMU_VFIO_IOAS, { op: GET }).errno).toBe(ENODEV);
    expect(env.ctx.objects.load(ioas2)).toBeDefined();
  });
});
