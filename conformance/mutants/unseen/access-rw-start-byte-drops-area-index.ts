/**
 * access-rw-start-byte-drops-area-index (drivers/iommu/iommufd/device.c
 * iommufd_access_rw; reached by IOMMU_TEST_OP_ACCESS_RW and by every
 * mdev-style driver's vfio_dma_rw()).
 *
 * An area is a window on an iopt_pages: its first IOVA sits at byte
 * `iopt_area_index(area) * PAGE_SIZE + area->page_offset` of the pages. An
 * area made by IOMMU_IOAS_MAP starts at index 0, but IOMMU_IOAS_COPY of a
 * sub-range (and a VFIO type1 v1 partial unmap, which splits an area) makes
 * areas that share one iopt_pages and start further in. Every user of an
 * area turns an IOVA into a position in the pages with
 * iopt_area_start_byte():
 *
 *     return (iova - iopt_area_iova(area)) + area->page_offset +
 *            iopt_area_index(area) * PAGE_SIZE;
 *
 * and iommufd_access_rw hands that to iopt_pages_rw_access:
 *
 *     rc = iopt_pages_rw_access(
 *             area->pages, iopt_area_start_byte(area, iter.cur_iova),
 *             data, bytes, flags);
 *
 * THE FAULT open-codes the offset as "the distance into the area plus the
 * area's offset in its first page" and forgets the area's page index:
 *
 *     rc = iopt_pages_rw_access(
 *             area->pages,
 *             (iter.cur_iova - iopt_area_iova(area)) + area->page_offset,
 *             data, bytes, flags);
 *
 * For every area that starts at index 0 of its pages (all areas a plain
 * IOMMU_IOAS_MAP makes) the two are equal, so a single map followed by an
 * access read or write is unaffected. The harm needs two areas over one
 * iopt_pages: IOMMU_IOAS_COPY of [src + k pages, ...) into another IOAS (or
 * to another IOVA of the same one), then IOMMU_TEST_OP_ACCESS_RW through the
 * copy. The copy is positioned k pages too early in the shared pages:
 *   - a read returns the bytes of the source mapping's first pages, not the
 *     ones the IOVA translates to (DMA and IOMMU_TEST_OP_MD_CHECK_MAP say
 *     otherwise);
 *   - a write lands in user memory the destination IOAS never mapped at that
 *     IOVA — memory the user gave only to the source IOAS (possibly
 *     read-only there: the write is allowed by the copy's own protection) —
 *     and the bytes the IOVA does translate to stay unchanged.
 * The fast path (copy_to/from_user at pages->uptr + start_byte) and the slow
 * path (the pages' frames) are both misplaced.
 *
 * Applied as: IOMMU_TEST_OP_ACCESS_RW runs a copy of iommufd_test_access_rw
 * → iommufd_access_rw whose start byte is computed as above.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { EBADFD, EFAULT, EINVAL, ENOENT, ENOMEM, EOPNOTSUPP, EOVERFLOW, EPERM } from '../../../impl/lib/errno.ts';
import { IOMMU_TEST_OP_ACCESS_RW, MOCK_ACCESS_RW_SLOW_PATH, MOCK_ACCESS_RW_WRITE, MOCK_FLAGS_ACCESS_SYZ } from '../../../spec/uapi/constants.ts';
import { ioptAreaContig } from '../../../impl/iommufd/io_pagetable.ts';
import { ioptPagesRwAccess } from '../../../impl/iommufd/pages.ts';
import { ULONG_MAX, type IoptArea, type Ucmd } from '../../../impl/iommufd/iommufd_private.ts';
import { SelftestAccess, syzConvIova } from '../../../impl/iommufd/selftest.ts';
import type { IommufdAccess } from '../../../impl/iommufd/access.ts';
import { mutantImplementation } from '../harness.ts';
import { checkAreaProt } from './_access_pages.ts';

const SZ_16M = 16n * 1024n * 1024n;

/** THE FAULT: (iova - iopt_area_iova(area)) + area->page_offset, without iopt_area_index(area) * PAGE_SIZE. */
function faultyStartByte(area: IoptArea, iova: bigint): bigint {
  return iova - area.start + BigInt(area.pageOffset);
}

/** iommufd_access_rw with the faulty start byte. */
function accessRw(access: IommufdAccess, iova: bigint, data: Uint8Array, write: boolean, slowPath: boolean): number {
  if (!data.length) return -EINVAL;
  const lastIova = iova + BigInt(data.length) - 1n;
  if (lastIova > ULONG_MAX) return -EOVERFLOW;
  const ioas = access.ioas;
  if (!ioas) return -ENOENT;
  const { pieces, done } = ioptAreaContig(ioas.iopt, iova, lastIova);
  let off = 0;
  for (const { area, cur } of pieces) {
    const last = lastIova < area.last ? lastIova : area.last;
    const bytes = Number(last - cur + 1n);
    if (area.preventAccess) return -EINVAL;
    if (!checkAreaProt(area, write)) return -EPERM;
    const rc = ioptPagesRwAccess(area.pages!, Number(faultyStartByte(area, cur)), data.subarray(off, off + bytes), write, slowPath);
    if (rc) return rc;
    off += bytes;
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
  return mutantImplementation('access-rw-start-byte-drops-area-index', profile, {
    handlers: { IOMMU_TEST_CMD: (ucmd, original) => (ucmd.cmd.num('op') === IOMMU_TEST_OP_ACCESS_RW ? testAccessRw(ucmd) : original(ucmd)) },
  });
}
