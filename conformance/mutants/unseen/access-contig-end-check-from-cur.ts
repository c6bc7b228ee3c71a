/**
 * access-contig-end-check-from-cur (drivers/iommu/iommufd/device.c
 * iopt_area_contig_is_aligned, called by iommufd_access_pin_pages for every
 * area a pin crosses: IOMMU_TEST_OP_ACCESS_PAGES, vfio_pin_pages() of an
 * emulated/mdev device; 6.12 and 7.3).
 *
 * A pin hands the driver struct page pointers, so every piece of the range
 * must start on a page boundary of its area's pages and — when the range
 * goes on into the next area — end on one: the last IOVA of the area must
 * be the last byte of a page.
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
 * THE FAULT is a copy-paste slip in the second test, which measures the
 * piece's start again instead of the area's end:
 *
 *             if (!iopt_area_contig_done(iter) &&
 *                 (iopt_area_start_byte(iter->area, iter->cur_iova) %
 *                  PAGE_SIZE) != (PAGE_SIZE - 1))
 *                     return false;
 *
 * Since the first test has just required that start to be page aligned
 * (remainder 0), the second one now fails for every piece that is not the
 * last one. A pin inside one area is untouched (its only piece is the last:
 * iopt_area_contig_done), so every single-mapping test and every pin of an
 * emulated device that stays inside one IOAS_MAP behaves as before.
 *
 * Why it takes several commands and two objects: the range must cross from
 * one area into the next — two IOMMU_IOAS_MAPs (or a map and an
 * IOMMU_IOAS_COPY) placed back to back in the IOAS, then a pin over the
 * seam. iommufd requires only that the range be contiguous in IOVA, and
 * with an access that pins the IOAS is PAGE_SIZE aligned, so every such seam
 * is page aligned and the kernel pins across it.
 *
 * Consequence: IOMMU_TEST_OP_ACCESS_PAGES (vfio_pin_pages(): an mdev /
 * vfio-ap / vfio-ccw / GVT-g driver pinning a guest buffer that the VMM
 * mapped as two neighbouring regions, e.g. RAM split around a hole or
 * mapped in chunks) fails with EINVAL although every page is mapped,
 * permitted and aligned; the driver cannot pin what the device has to use
 * (the guest's I/O fails). No pin is taken and nothing leaks: the failure
 * is clean, only wrong.
 *
 * Applied as: IOMMU_TEST_OP_ACCESS_PAGES is served by the shared copy of
 * iommufd_test_access_pages (_access_pages.ts) over its
 * iommufd_access_pin_pages, with an iopt_area_contig_is_aligned that has the slip.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { IOMMU_TEST_OP_ACCESS_PAGES } from '../../../spec/uapi/constants.ts';
import { ioptAreaStartByte } from '../../../impl/iommufd/io_pagetable.ts';
import { PAGE_SIZE, type IoptArea } from '../../../impl/iommufd/iommufd_private.ts';
import { mutantImplementation } from '../harness.ts';
import { accessPagesHandler, accessPinPagesWith } from './_access_pages.ts';

const P = BigInt(PAGE_SIZE);

/** iopt_area_contig_is_aligned with THE FAULT: the end test reads the piece's start (cur_iova). */
function contigIsAligned(area: IoptArea, cur: bigint, isLastPiece: boolean): boolean {
  if (ioptAreaStartByte(area, cur) % P) return false;
  if (!isLastPiece && ioptAreaStartByte(area, cur) % P !== P - 1n) return false;
  return true;
}

const accessPages = accessPagesHandler({ pinPages: accessPinPagesWith({ isAligned: contigIsAligned }) });

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('access-contig-end-check-from-cur', profile, {
    handlers: {
      IOMMU_TEST_CMD: (ucmd, original) => (ucmd.cmd.num('op') === IOMMU_TEST_OP_ACCESS_PAGES ? accessPages(ucmd) : original(ucmd)),
    },
  });
}
