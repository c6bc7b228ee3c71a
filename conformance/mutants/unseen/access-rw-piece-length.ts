/**
 * Fault J5 — access-rw-piece-length.
 *
 * iommufd_access_rw (device.c) walks the contiguous areas under
 * [iova, last_iova] and copies, per area, `bytes = (last - iter.cur_iova) + 1`
 * with `last = min(last_iova, iopt_area_last_iova(area))`. The fault computes
 * the piece from last_iova instead of the clamped last: the first area's
 * copy runs for the whole remaining length, through that area's iopt_pages
 * and past the area's end (iopt_pages_rw_access has no bound of its own: the
 * fast path is copy_{to,from}_user at pages->uptr + start_byte), so an
 * access read or write that spans two areas touches the user memory that
 * follows the first area in the user's address space instead of the second
 * area's pages (wrong length arithmetic at an area boundary).
 *
 * Only IOMMU_TEST_OP_ACCESS_RW is replaced: a copy of
 * iommufd_test_access_rw calling a copy of iommufd_access_rw with the one
 * changed line.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation } from '../harness.ts';
import { EBADFD, EFAULT, EINVAL, ENOENT, ENOMEM, EOPNOTSUPP, EOVERFLOW, EPERM } from '../../../impl/lib/errno.ts';
import { IOMMU_TEST_OP_ACCESS_RW, MOCK_ACCESS_RW_SLOW_PATH, MOCK_ACCESS_RW_WRITE, MOCK_FLAGS_ACCESS_SYZ } from '../../../spec/uapi/constants.ts';
import { IOMMU_READ, IOMMU_WRITE, ioptAreaContig, ioptAreaStartByte } from '../../../impl/iommufd/io_pagetable.ts';
import { ioptPagesRwAccess } from '../../../impl/iommufd/pages.ts';
import { ULONG_MAX, type IoPagetable, type Ucmd } from '../../../impl/iommufd/iommufd_private.ts';
import { SelftestAccess } from '../../../impl/iommufd/selftest.ts';
import type { IommufdAccess } from '../../../impl/iommufd/access.ts';

const SZ_16M = 16 * 1024 * 1024;

/** iommufd_access_rw with the fault. */
function accessRw(access: IommufdAccess, iova: bigint, data: Uint8Array, write: boolean, slowPath: boolean): number {
  if (!data.length) return -EINVAL;
  const last = iova + BigInt(data.length) - 1n;
  if (last > ULONG_MAX) return -EOVERFLOW;
  const ioas = access.ioas;
  if (!ioas) return -ENOENT;
  const { pieces, done } = ioptAreaContig(ioas.iopt, iova, last);
  let off = 0;
  for (const { area, cur } of pieces) {
    // THE FAULT: bytes = (last_iova - iter.cur_iova) + 1, not (min(last_iova, iopt_area_last_iova(area)) - cur) + 1
    const bytes = Number(last - cur + 1n);
    if (area.preventAccess) return -EINVAL;
    if (!(area.iommuProt & (write ? IOMMU_WRITE : IOMMU_READ))) return -EPERM;
    const chunk = data.subarray(off, off + bytes);
    if (chunk.length) {
      const rc = ioptPagesRwAccess(area.pages!, Number(ioptAreaStartByte(area, cur)), chunk, write, slowPath);
      if (rc) return rc;
    }
    off += bytes;
  }
  return done ? 0 : -ENOENT;
}

/** syzkaller's { u32 nth_area; u32 offset } IOVA encoding. */
function syzConv(iopt: IoPagetable | undefined, iova: bigint): bigint {
  if (!iopt) return 0n;
  const area = iopt.areas[Number(BigInt.asUintN(32, iova))];
  return area ? area.start + BigInt.asUintN(32, iova >> 32n) : 0n;
}

/** iommufd_test_access_rw (unchanged but for the iommufd_access_rw it calls). */
function testAccessRw(ucmd: Ucmd): number {
  const { cmd, ctx } = ucmd;
  let iova = cmd.big('access_rw.iova');
  const length = cmd.big('access_rw.length');
  const ubuf = cmd.big('access_rw.uptr');
  const flags = cmd.num('access_rw.flags');
  if (length > BigInt(SZ_16M)) return -ENOMEM;
  if (flags & ~(MOCK_ACCESS_RW_WRITE | MOCK_ACCESS_RW_SLOW_PATH | MOCK_FLAGS_ACCESS_SYZ)) return -EOPNOTSUPP;
  const file = ctx.proc.fds.fget(cmd.num('id'));
  if (!file) return -EBADFD;
  try {
    if (file.kind !== 'selftest-access' || !(file.private_data instanceof SelftestAccess)) return -EBADFD;
    const staccess = file.private_data;
    if (ctx.faults.shouldFail()) return -ENOMEM;
    let tmp: Uint8Array = new Uint8Array(Number(length));
    const write = (flags & MOCK_ACCESS_RW_WRITE) !== 0;
    if (write) {
      const b = ctx.proc.copyFromUser(ubuf, Number(length));
      if (!b) return -EFAULT;
      tmp = b;
    }
    if (flags & MOCK_FLAGS_ACCESS_SYZ) iova = syzConv(staccess.access!.ioas?.iopt, iova);
    const rc = accessRw(staccess.access!, iova, tmp, write, (flags & MOCK_ACCESS_RW_SLOW_PATH) !== 0);
    if (rc) return rc;
    if (!write && !ctx.proc.copyToUser(ubuf, tmp)) return -EFAULT;
    return 0;
  } finally {
    file.put();
  }
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('access-rw-piece-length', profile, {
    handlers: { IOMMU_TEST_CMD: (ucmd, original) => (ucmd.cmd.num('op') === IOMMU_TEST_OP_ACCESS_RW ? testAccessRw(ucmd) : original(ucmd)) },
  });
}
