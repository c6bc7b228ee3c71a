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
import { IOMMU_TEST_OP_ACCESS_RW } from '../../../spec/uapi/constants.ts';
import type { IoptArea } from '../../../impl/iommufd/iommufd_private.ts';
import { mutantImplementation } from '../harness.ts';
import { accessRwHandler } from './_access_rw.ts';

/** THE FAULT: (iova - iopt_area_iova(area)) + area->page_offset, without iopt_area_index(area) * PAGE_SIZE. */
function faultyStartByte(area: IoptArea, iova: bigint): bigint {
  return iova - area.start + BigInt(area.pageOffset);
}

/** iommufd_test_access_rw over iommufd_access_rw with the faulty start byte. */
const accessRw = accessRwHandler({ startByte: faultyStartByte });

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('access-rw-start-byte-drops-area-index', profile, {
    handlers: { IOMMU_TEST_CMD: (ucmd, original) => (ucmd.cmd.num('op') === IOMMU_TEST_OP_ACCESS_RW ? accessRw(ucmd) : original(ucmd)) },
  });
}
