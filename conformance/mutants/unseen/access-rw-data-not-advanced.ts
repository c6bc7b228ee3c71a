/**
 * access-rw-data-not-advanced (drivers/iommu/iommufd/device.c,
 * iommufd_access_rw; reached by IOMMU_TEST_OP_ACCESS_RW and by every
 * emulated device's vfio_dma_rw()).
 *
 * A read or write through an access may span several IOVA-contiguous areas
 * (two IOMMU_IOAS_MAPs back to back, a COPY next to a MAP). The walk copies
 * each area's piece with iopt_pages_rw_access() and then moves the kernel
 * buffer past it, so the next area's bytes follow:
 *
 *     iopt_for_each_contig_area(&iter, area, iopt, iova, last_iova) {
 *             unsigned long last = min(last_iova, iopt_area_last_iova(area));
 *             unsigned long bytes = (last - iter.cur_iova) + 1;
 *             ...
 *             rc = iopt_pages_rw_access(
 *                     area->pages, iopt_area_start_byte(area, iter.cur_iova),
 *                     data, bytes, flags);
 *             if (rc)
 *                     goto err_out;
 *             data += bytes;
 *     }
 *
 * THE FAULT drops `data += bytes` (it is the one line of the loop body that
 * is not a call or a check, and the piece length it uses is computed at the
 * top, so losing it in a rework of the error handling reads fine): every
 * area's piece is copied from / to the start of the caller's buffer.
 *
 * A transfer inside one area is unaffected, so the selftests' rw checks (one
 * map) pass. Across an area boundary: a write puts the first bytes of the
 * buffer at the start of the second area too (the memory behind the second
 * mapping gets the wrong bytes, which DMA by a device attached to the IOAS
 * and the user's own reads then see), and the buffer's tail is never
 * written anywhere; a read overwrites the first area's bytes with the second
 * area's and leaves the tail of the caller's buffer zero (the selftest's
 * kvzalloc), which is what userspace gets back.
 *
 * Applied as: IOMMU_TEST_OP_ACCESS_RW runs a copy of iommufd_test_access_rw
 * over a copy of iommufd_access_rw without the cursor update; everything
 * else is the reference's.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { EBADFD, EFAULT, EINVAL, ENOENT, ENOMEM, EOPNOTSUPP, EOVERFLOW, EPERM } from '../../../impl/lib/errno.ts';
import { IOMMU_TEST_OP_ACCESS_RW, MOCK_ACCESS_RW_SLOW_PATH, MOCK_ACCESS_RW_WRITE, MOCK_FLAGS_ACCESS_SYZ } from '../../../spec/uapi/constants.ts';
import { ioptAreaContig, ioptAreaStartByte } from '../../../impl/iommufd/io_pagetable.ts';
import { ioptPagesRwAccess } from '../../../impl/iommufd/pages.ts';
import { ULONG_MAX, type Ucmd } from '../../../impl/iommufd/iommufd_private.ts';
import { SelftestAccess, syzConvIova } from '../../../impl/iommufd/selftest.ts';
import type { IommufdAccess } from '../../../impl/iommufd/access.ts';
import { mutantImplementation } from '../harness.ts';
import { checkAreaProt } from './_access_pages.ts';

const SZ_16M = 16n * 1024n * 1024n;

/** iommufd_access_rw with THE FAULT: `data` is not advanced past each area's piece. */
function accessRw(access: IommufdAccess, iova: bigint, data: Uint8Array, write: boolean, slowPath: boolean): number {
  if (!data.length) return -EINVAL;
  const last = iova + BigInt(data.length) - 1n;
  if (last > ULONG_MAX) return -EOVERFLOW;
  const ioas = access.ioas;
  if (!ioas) return -ENOENT;
  const { pieces, done } = ioptAreaContig(ioas.iopt, iova, last);
  const off = 0; // THE FAULT: never `off += bytes`
  for (const { area, cur } of pieces) {
    const pieceLast = last < area.last ? last : area.last;
    const bytes = Number(pieceLast - cur + 1n);
    if (area.preventAccess) return -EINVAL;
    if (!checkAreaProt(area, write)) return -EPERM;
    const rc = ioptPagesRwAccess(area.pages!, Number(ioptAreaStartByte(area, cur)), data.subarray(off, off + bytes), write, slowPath);
    if (rc) return rc;
  }
  return done ? 0 : -ENOENT;
}

/** iommufd_test_access_rw over the faulty iommufd_access_rw. */
function testAccessRw(ucmd: Ucmd): number {
  const { cmd, ctx } = ucmd;
  let iova = cmd.big('access_rw.iova');
  const length = cmd.big('access_rw.length');
  const ubuf = cmd.big('access_rw.uptr');
  const flags = cmd.num('access_rw.flags');
  if (length > SZ_16M) return -ENOMEM;
  if (flags & ~(MOCK_ACCESS_RW_WRITE | MOCK_ACCESS_RW_SLOW_PATH | MOCK_FLAGS_ACCESS_SYZ)) return -EOPNOTSUPP;
  const file = ctx.proc.fds.fget(cmd.num('id'));
  if (!file) return -EBADFD;
  try {
    if (file.kind !== 'selftest-access' || !(file.private_data instanceof SelftestAccess)) return -EBADFD;
    const access = file.private_data.access!;
    if (ctx.faults.shouldFail()) return -ENOMEM; // kvzalloc(tmp)
    let tmp: Uint8Array = new Uint8Array(Number(length));
    const write = (flags & MOCK_ACCESS_RW_WRITE) !== 0;
    if (write) {
      const b = ctx.proc.copyFromUser(ubuf, Number(length));
      if (!b) return -EFAULT;
      tmp = b;
    }
    if (flags & MOCK_FLAGS_ACCESS_SYZ) iova = syzConvIova(access, iova);
    const rc = accessRw(access, iova, tmp, write, (flags & MOCK_ACCESS_RW_SLOW_PATH) !== 0);
    if (rc) return rc;
    if (!write && !ctx.proc.copyToUser(ubuf, tmp)) return -EFAULT;
    return 0;
  } finally {
    file.put();
  }
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('access-rw-data-not-advanced', profile, {
    handlers: {
      IOMMU_TEST_CMD: (ucmd, original) => (ucmd.cmd.num('op') === IOMMU_TEST_OP_ACCESS_RW ? testAccessRw(ucmd) : original(ucmd)),
    },
  });
}
