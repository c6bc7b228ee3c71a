/**
 * load-iovas-single-byte-range (drivers/iommu/iommufd/ioas.c
 * iommufd_ioas_load_iovas, reached by IOMMU_IOAS_ALLOW_IOVAS with
 * num_iovas > 0).
 *
 * The kernel's (6.12 and 7.3 alike) refuses a range whose start is not
 * strictly below its last, so a one-byte range [x, x] is -EINVAL:
 *
 *     for (i = 0; i != num; i++) {
 *             struct iommu_iova_range range;
 *             struct iopt_allowed *allowed;
 *
 *             if (copy_from_user(&range, ranges + i, sizeof(range)))
 *                     return -EFAULT;
 *
 *             if (range.start >= range.last)
 *                     return -EINVAL;
 *
 *             if (interval_tree_iter_first(itree, range.start, range.last))
 *                     return -EINVAL;
 *             ...
 *
 * THE FAULT: `if (range.start > range.last)` — the test a developer writes
 * for an inclusive [start, last] pair, where only an inverted range looks
 * malformed. A range with start == last is then accepted: ALLOW_IOVAS with
 * such a range (alone or among others) succeeds where the kernel fails with
 * -EINVAL and leaves the allowed list as it was. The new allowed list holds
 * a one-byte range, so what follows differs too: automatic-IOVA maps see
 * the allowed list as non-empty (and nothing fits a byte: -ENOSPC where the
 * old list, or the whole space, had room), IOMMU_TEST_OP_ADD_RESERVED and a
 * domain's aperture or device reserved regions covering that byte are
 * refused (-EADDRINUSE), and a later ALLOW_IOVAS that the kernel would
 * refuse for an overlap is compared against a different list.
 *
 * Applied as: IOMMU_IOAS_ALLOW_IOVAS is the reference's (iopt_set_allow_iova
 * included) over _allow_iovas.ts's iommufd_ioas_load_iovas with the one-byte step off.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { ioptSetAllowIova } from '../../../impl/iommufd/io_pagetable.ts';
import { allowIovasWith } from './_allow_iovas.ts';
import { mutantImplementation } from '../harness.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('load-iovas-single-byte-range', profile, {
    // THE FAULT: `if (range.start > range.last) return -EINVAL;` (iommufd_ioas_load_iovas).
    handlers: { IOMMU_IOAS_ALLOW_IOVAS: allowIovasWith(ioptSetAllowIova, { refusesOneByte: false }) },
  });
}
