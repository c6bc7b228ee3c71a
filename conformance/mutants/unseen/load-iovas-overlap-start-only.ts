/**
 * load-iovas-overlap-start-only (drivers/iommu/iommufd/ioas.c
 * iommufd_ioas_load_iovas, reached by IOMMU_IOAS_ALLOW_IOVAS with two or
 * more ranges).
 *
 * The kernel (6.12 and 7.3 alike) refuses a list whose ranges overlap, by
 * querying the tree built so far with the whole new range:
 *
 *             if (range.start >= range.last)
 *                     return -EINVAL;
 *
 *             if (interval_tree_iter_first(itree, range.start, range.last))
 *                     return -EINVAL;
 *
 * THE FAULT: `interval_tree_iter_first(itree, range.start, range.start)` —
 * a point query (the way a lookup of "the range holding this IOVA" is
 * written elsewhere), so only a new range whose first byte lies inside an
 * earlier one is refused. A later range that starts below an earlier one
 * and reaches into it (or swallows it whole) is accepted: ALLOW_IOVAS with
 * e.g. [0x100000, 0x1fffff] then [0x0, 0x17ffff] succeeds where the kernel
 * fails with -EINVAL and leaves the old allowed list in place. The allowed
 * list then changes when it should not: automatic IOVAs are placed in the
 * new ranges, and reservations (IOMMU_TEST_OP_ADD_RESERVED, a domain's
 * aperture, a device's reserved regions) that the old list allowed are
 * refused with -EADDRINUSE, or the other way round.
 *
 * Applied as: IOMMU_IOAS_ALLOW_IOVAS is _allow_iovas.ts's
 * iommufd_ioas_allow_iovas with the overlap query at the start only, then
 * the reference's iopt_set_allow_iova.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { ioptSetAllowIova } from '../../../impl/iommufd/io_pagetable.ts';
import { allowIovasWith } from './_allow_iovas.ts';
import { mutantImplementation } from '../harness.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('load-iovas-overlap-start-only', profile, {
    // THE FAULT: interval_tree_iter_first(itree, range.start, range.start) (iommufd_ioas_load_iovas).
    handlers: { IOMMU_IOAS_ALLOW_IOVAS: allowIovasWith(ioptSetAllowIova, { overlapWholeRange: false }) },
  });
}
