import { describe, expect } from 'vitest';
import { sysRet } from '../process/file.ts';
import { ioctlIO } from '../../spec/uapi/commands.ts';
import { CONSTANTS } from '../../spec/uapi/enums.ts';

/** _IO(VFIO_TYPE, VFIO_BASE + 17): type1's dirty-page ioctl, which iommufd does not serve (not in spec/uapi's command data). */
const VFIO_IOMMU_DIRTY_PAGES = ioctlIO(CONSTANTS.VFIO_TYPE, CONSTANTS.VFIO_BASE + 17);
import { check } from '../../spec/clauses/check.ts';
import { EINVAL, ENODEV, ENOENT, ENOTTY, EPERM } from '../lib/errno.ts';
import type { IommufdIoas } from './iommufd_private.ts';
import { ioptTableAddDomain } from './io_pagetable.ts';
import { iommufdVfioCompatIoasCreate, iommufdVfioCompatSetNoIommu } from './vfio_compat.ts';
import { VFIO_CHECK_EXTENSION, VFIO_DMA_CC_IOMMU, VFIO_GET_API_VERSION, VFIO_IOMMU_GET_INFO, VFIO_IOMMU_MAP_DMA, VFIO_IOMMU_UNMAP_DMA, VFIO_NOIOMMU_IOMMU, VFIO_SET_IOMMU, VFIO_TYPE1_IOMMU, VFIO_TYPE1v2_IOMMU, VFIO_UNMAP_ALL } from '../../spec/uapi/constants.ts';
import { buffer, FakeDomain, ioasAlloc, ioctl, NR, newEnv, P, type Env } from '../testing/testutil.ts';

function vfio(env: Env, cmd: number, arg: bigint) {
  return sysRet(env.ctx.file!.ops.ioctl!(env.ctx.file!, cmd, arg));
}

function dmaMap(env: Env, vaddr: bigint, iova: bigint, size: bigint, flags = 3, argsz = 32) {
  const b = new DataView(new ArrayBuffer(32));
  b.setUint32(0, argsz, true);
  b.setUint32(4, flags, true);
  b.setBigUint64(8, vaddr, true);
  b.setBigUint64(16, iova, true);
  b.setBigUint64(24, size, true);
  env.proc.copyToUser(env.scratch, new Uint8Array(b.buffer));
  return vfio(env, VFIO_IOMMU_MAP_DMA, env.scratch).errno;
}

function dmaUnmap(env: Env, iova: bigint, size: bigint, flags = 0, argsz = 24): { errno: number; size: bigint } {
  const b = new DataView(new ArrayBuffer(24));
  b.setUint32(0, argsz, true);
  b.setUint32(4, flags, true);
  b.setBigUint64(8, iova, true);
  b.setBigUint64(16, size, true);
  env.proc.copyToUser(env.scratch, new Uint8Array(b.buffer));
  const errno = vfio(env, VFIO_IOMMU_UNMAP_DMA, env.scratch).errno;
  const out = env.proc.copyFromUser(env.scratch, 24)!;
  return { errno, size: new DataView(out.buffer).getBigUint64(16, true) };
}

/** A compat IOAS (as VFIO_GROUP_SET_CONTAINER makes it) with one 4 KiB domain. */
function compatEnv(type: number): { env: Env; ioas: IommufdIoas } {
  const env = newEnv();
  expect(iommufdVfioCompatIoasCreate(env.ctx)).toBe(0);
  const ioas = env.ctx.vfioIoas as IommufdIoas;
  expect(vfio(env, VFIO_SET_IOMMU, BigInt(type)).errno).toBe(0);
  expect(ioptTableAddDomain(ioas.iopt, new FakeDomain())).toBe(0);
  return { env, ioas };
}

describe('VFIO type1 compatibility (vfio_compat.c)', () => {
  check('ref.vfio_compat.extensions', () => {
    const env = newEnv();
    expect(vfio(env, VFIO_GET_API_VERSION, 0n)).toEqual({ ret: 0, errno: 0 });
    for (const t of [VFIO_TYPE1_IOMMU, VFIO_TYPE1v2_IOMMU, VFIO_UNMAP_ALL]) expect(vfio(env, VFIO_CHECK_EXTENSION, BigInt(t)).ret).toBe(1);
    expect(vfio(env, VFIO_CHECK_EXTENSION, 6n).ret).toBe(0);
    expect(vfio(env, VFIO_CHECK_EXTENSION, 10n).ret).toBe(0);
    expect(vfio(env, VFIO_CHECK_EXTENSION, BigInt(VFIO_DMA_CC_IOMMU)).errno).toBe(ENODEV);
    expect(vfio(env, VFIO_IOMMU_DIRTY_PAGES, env.scratch).errno).toBe(ENOTTY);
  });
  check('ref.vfio_compat.set-iommu-errno', () => {
    const env = newEnv();
    expect(vfio(env, VFIO_SET_IOMMU, 2n).errno).toBe(EINVAL);
    expect(vfio(env, VFIO_SET_IOMMU, BigInt(VFIO_TYPE1v2_IOMMU)).errno).toBe(ENODEV);
    const ioas = ioasAlloc(env);
    ioctl(env, NR.IOMMU_VFIO_IOAS, { op: 1, ioas_id: ioas });
    expect(vfio(env, VFIO_SET_IOMMU, BigInt(VFIO_TYPE1v2_IOMMU)).errno).toBe(0);
    // TYPE1 (v1) disables large pages: alignment becomes PAGE_SIZE.
    expect(vfio(env, VFIO_SET_IOMMU, BigInt(VFIO_TYPE1_IOMMU)).errno).toBe(0);
    expect((env.ctx.objects.load(ioas) as IommufdIoas).iopt.disableLargePages).toBe(true);
  });
  check('ref.vfio_compat.noiommu', () => {
    const env = newEnv();
    expect(iommufdVfioCompatSetNoIommu(env.ctx)).toBe(0);
    expect(vfio(env, VFIO_CHECK_EXTENSION, BigInt(VFIO_TYPE1v2_IOMMU)).ret).toBe(0);
    expect(vfio(env, VFIO_SET_IOMMU, BigInt(VFIO_TYPE1v2_IOMMU)).errno).toBe(EINVAL);
    expect(vfio(env, VFIO_SET_IOMMU, BigInt(VFIO_NOIOMMU_IOMMU)).errno).toBe(EPERM);
    env.proc.capSysRawio = true;
    expect(vfio(env, VFIO_SET_IOMMU, BigInt(VFIO_NOIOMMU_IOMMU)).errno).toBe(0);
    expect(iommufdVfioCompatIoasCreate(env.ctx)).toBe(-EINVAL);
    expect(env.ctx.objects.empty).toBe(true);
  });
  check('ref.vfio_compat.map-unmap-errno', () => {
    const env = newEnv();
    const buf = buffer(env, 4 * 4096);
    expect(dmaMap(env, buf, 0x10000n, P, 3, 31)).toBe(EINVAL);
    expect(dmaMap(env, buf, 0x10000n, P, 4)).toBe(EINVAL);
    expect(dmaMap(env, buf, 0x10000n, P)).toBe(ENODEV);
    expect(dmaUnmap(env, 0x10000n, P, 0, 23).errno).toBe(EINVAL);
    expect(dmaUnmap(env, 0x10000n, P, 1).errno).toBe(EINVAL);
    expect(dmaUnmap(env, 0x10000n, P).errno).toBe(ENODEV);
    iommufdVfioCompatIoasCreate(env.ctx);
    expect(dmaUnmap(env, 0x10000n, P, 2).errno).toBe(EINVAL);
    // Unmapping nothing is success here (unlike IOAS_UNMAP).
    expect(dmaUnmap(env, 0x10000n, P)).toEqual({ errno: 0, size: 0n });
  });
  check('ref.vfio_compat.type1v2-no-split', () => {
    const { env, ioas } = compatEnv(VFIO_TYPE1v2_IOMMU);
    const buf = buffer(env, 4 * 4096);
    expect(dmaMap(env, buf, 0x10000n, 4n * P)).toBe(0);
    expect(dmaUnmap(env, 0x11000n, P).errno).toBe(ENOENT);
    expect(ioas.iopt.areas.length).toBe(1);
    expect(dmaUnmap(env, 0n, 0n, 2)).toEqual({ errno: 0, size: 4n * P });
  });
  check('ref.vfio_compat.type1-splits', () => {
    const { env, ioas } = compatEnv(VFIO_TYPE1_IOMMU);
    const buf = buffer(env, 4 * 4096);
    expect(dmaMap(env, buf, 0x10000n, 4n * P)).toBe(0);
    expect(env.proc.pinCountOfVa(buf)).toBe(1);
    // A hole in the middle: the area is cut at both ends of the range.
    expect(dmaUnmap(env, 0x11000n, 2n * P)).toEqual({ errno: 0, size: 2n * P });
    expect(ioas.iopt.areas.map((a) => [a.start, a.last])).toEqual([
      [0x10000n, 0x10fffn],
      [0x13000n, 0x13fffn],
    ]);
    expect(env.proc.pinCountOfVa(buf)).toBe(1);
    expect(env.proc.pinCountOfVa(buf + P)).toBe(0);
    expect(env.proc.pinCountOfVa(buf + 3n * P)).toBe(1);
    expect(dmaUnmap(env, 0n, 0n, 2)).toEqual({ errno: 0, size: 2n * P });
    expect(env.proc.totalPins).toBe(0);
  });
  check('ref.vfio_compat.type1-cut-at-area-start', () => {
    // iopt_area_split leaves an area whole for a cut at its first or last IOVA: an unmap starting one
    // byte into an area cuts nothing there, and the area, only partly inside the range, is ENOENT.
    const { env, ioas } = compatEnv(VFIO_TYPE1_IOMMU);
    const buf = buffer(env, 4 * 4096);
    expect(dmaMap(env, buf, 0x10000n, 4n * P)).toBe(0);
    expect(dmaUnmap(env, 0x10001n, 8n * P).errno).toBe(ENOENT);
    expect(ioas.iopt.areas.map((a) => [a.start, a.last])).toEqual([[0x10000n, 0x13fffn]]);
  });
  check('ref.vfio_compat.get-info', () => {
    const { env } = compatEnv(VFIO_TYPE1v2_IOMMU);
    const b = new DataView(new ArrayBuffer(16));
    b.setUint32(0, 16, true);
    env.proc.copyToUser(env.scratch, new Uint8Array(b.buffer));
    expect(vfio(env, VFIO_IOMMU_GET_INFO, env.scratch).errno).toBe(0);
    const out = new DataView(env.proc.copyFromUser(env.scratch, 16)!.buffer);
    // argsz out = 24 (info) + 16 (DMA_AVAIL, aligned) + 16 + 16 (one IOVA range).
    expect(out.getUint32(0, true)).toBe(72);
    expect(out.getUint32(4, true)).toBe(3);
    expect(out.getBigUint64(8, true)).toBe(0xfffff000n);
    // With room for everything the caps are filled and chained.
    const big = new DataView(new ArrayBuffer(72));
    big.setUint32(0, 72, true);
    env.proc.copyToUser(env.scratch, new Uint8Array(big.buffer));
    expect(vfio(env, VFIO_IOMMU_GET_INFO, env.scratch).errno).toBe(0);
    const all = new DataView(env.proc.copyFromUser(env.scratch, 72)!.buffer);
    expect(all.getUint32(16, true)).toBe(24); // cap_offset
    expect(all.getUint16(24, true)).toBe(3); // DMA_AVAIL
    expect(all.getUint32(28, true)).toBe(40); // next
    expect(all.getUint32(32, true)).toBe(0xffffffff);
    expect(all.getUint16(40, true)).toBe(1); // IOVA_RANGE
    expect(all.getUint32(48, true)).toBe(1); // nr_iovas
  });
  check('ref.vfio_compat.cc-iommu', () => {
    const { env, ioas } = compatEnv(VFIO_TYPE1v2_IOMMU);
    expect(vfio(env, VFIO_CHECK_EXTENSION, BigInt(VFIO_DMA_CC_IOMMU)).ret).toBe(1);
    ioas.hwptList.push({ type: 'HWPT_PAGING', id: 9, users: 1, destroy: () => {}, enforceCacheCoherency: false } as never);
    expect(vfio(env, VFIO_CHECK_EXTENSION, BigInt(VFIO_DMA_CC_IOMMU)).ret).toBe(0);
  });
});
