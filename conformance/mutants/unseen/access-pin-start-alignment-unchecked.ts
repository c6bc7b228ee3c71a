/**
 * access-pin-start-alignment-unchecked (drivers/iommu/iommufd/device.c
 * iopt_area_contig_is_aligned, called by iommufd_access_pin_pages for each
 * area a pin crosses: IOMMU_TEST_OP_ACCESS_PAGES, vfio_pin_pages() of an
 * emulated/mdev device; 6.12 and 7.3).
 *
 * A pin returns struct page pointers, so the range has to start on a page
 * boundary of the pages under its first IOVA (and, if it continues into the
 * next area, end on one):
 *
 *     static bool iopt_area_contig_is_aligned(struct iopt_area_contig_iter *iter)
 *     {
 *             if (iopt_area_start_byte(iter->area, iter->cur_iova) % PAGE_SIZE)
 *                     return false;
 *
 *             if (!iopt_area_contig_done(iter) &&
 *                 (iopt_area_start_byte(iter->area, iopt_area_last_iova(iter->area)) %
 *                  PAGE_SIZE) != (PAGE_SIZE - 1))
 *                     return false;
 *             return true;
 *     }
 *
 * THE FAULT: the first test is lost (e.g. in a refactor that kept only the
 * "continues into the next area" test):
 *
 *     static bool iopt_area_contig_is_aligned(struct iopt_area_contig_iter *iter)
 *     {
 *             if (!iopt_area_contig_done(iter) &&
 *                 (iopt_area_start_byte(iter->area, iopt_area_last_iova(iter->area)) %
 *                  PAGE_SIZE) != (PAGE_SIZE - 1))
 *                     return false;
 *             return true;
 *     }
 *
 * What a user sees: IOMMU_TEST_OP_ACCESS_PAGES at an IOVA that is not page
 * aligned (e.g. area start + 0x100) succeeds and pins the whole pages
 * covering the range, where the kernel answers EINVAL; the pin counts
 * (MD_CHECK_REFS) rise, the item exists, and the driver is handed a page
 * whose first bytes it was never asked for.
 *
 * Applied as: IOMMU_TEST_OP_ACCESS_PAGES served by the shared copy of
 * iommufd_test_access_pages over iommufd_access_pin_pages with this
 * iopt_area_contig_is_aligned.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { IOMMU_TEST_OP_ACCESS_PAGES } from '../../../spec/uapi/constants.ts';
import { ioptAreaStartByte } from '../../../impl/iommufd/io_pagetable.ts';
import { PAGE_SIZE, type IoptArea } from '../../../impl/iommufd/iommufd_private.ts';
import { mutantImplementation } from '../harness.ts';
import { accessPagesHandler, accessPinPagesWith } from './_access_pages.ts';

const P = BigInt(PAGE_SIZE);

/** iopt_area_contig_is_aligned with THE FAULT: the start test is gone. */
function contigIsAligned(area: IoptArea, _cur: bigint, isLastPiece: boolean): boolean {
  if (!isLastPiece && ioptAreaStartByte(area, area.last) % P !== P - 1n) return false;
  return true;
}

const accessPages = accessPagesHandler({ pinPages: accessPinPagesWith({ isAligned: contigIsAligned }) });

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('access-pin-start-alignment-unchecked', profile, {
    handlers: {
      IOMMU_TEST_CMD: (ucmd, original) => (ucmd.cmd.num('op') === IOMMU_TEST_OP_ACCESS_PAGES ? accessPages(ucmd) : original(ucmd)),
    },
  });
}
