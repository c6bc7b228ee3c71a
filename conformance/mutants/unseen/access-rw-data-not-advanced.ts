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
import { IOMMU_TEST_OP_ACCESS_RW } from '../../../spec/uapi/constants.ts';
import { mutantImplementation } from '../harness.ts';
import { accessRwHandler } from './_access_rw.ts';

/** iommufd_test_access_rw over iommufd_access_rw with THE FAULT. */
const accessRw = accessRwHandler({ advance: (off) => off });

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('access-rw-data-not-advanced', profile, {
    handlers: {
      IOMMU_TEST_CMD: (ucmd, original) => (ucmd.cmd.num('op') === IOMMU_TEST_OP_ACCESS_RW ? accessRw(ucmd) : original(ucmd)),
    },
  });
}
