/**
 * Round 7a fault (drivers/iommu/iommufd/ioas.c iommufd_ioas_iova_ranges).
 *
 * IOMMU_IOAS_IOVA_RANGES walks the holes of the reserved tree; it copies a
 * hole to the user's array only while there is room, and counts every hole
 * so user space can size its array from num_iovas (-EMSGSIZE):
 *
 *     interval_tree_for_each_span(&span, &ioas->iopt.reserved_itree, 0, ULONG_MAX) {
 *             if (!span.is_hole)
 *                     continue;
 *             if (cmd->num_iovas < max_iovas) {
 *                     ...
 *                     if (copy_to_user(&ranges[cmd->num_iovas], &elm, sizeof(elm)))
 *
 * The fault is the classic bounds off-by-one: `cmd->num_iovas <= max_iovas`.
 * The kernel writes one struct iommu_iova_range past the end of the array
 * user space described: with num_iovas = 0 (the documented way to ask for
 * the count) it writes through allowed_iovas at all, and with an array of n
 * it overwrites the 16 bytes after it (whatever the process keeps there).
 * The ioctl still answers -EMSGSIZE and the right count, so a caller that
 * only looks at the return value sees nothing wrong.
 *
 * Applied as: IOMMU_IOAS_IOVA_RANGES is a copy of iommufd_ioas_iova_ranges
 * with `<=` in the room test.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation } from '../harness.ts';
import { iovaRangesWith } from './_iova_ranges.ts';

// THE FAULT: `num <= maxIovas` (should be `num < maxIovas`).
const iovaRanges = iovaRangesWith({ fits: (num, max) => num <= max });

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('iova-ranges-copy-past-num', profile, { handlers: { IOMMU_IOAS_IOVA_RANGES: iovaRanges } });
}
