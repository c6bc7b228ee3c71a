/**
 * iova-ranges-reserved-unchecked (drivers/iommu/iommufd/ioas.c
 * iommufd_ioas_iova_ranges; 6.12 and 7.3 alike).
 *
 * struct iommu_ioas_iova_ranges carries a `__u32 __reserved` that userspace
 * must zero; the kernel refuses anything else so the word can be given a
 * meaning later:
 *
 *     int iommufd_ioas_iova_ranges(struct iommufd_ucmd *ucmd)
 *     {
 *             struct iommu_iova_range __user *ranges;
 *             struct iommu_ioas_iova_ranges *cmd = ucmd->cmd;
 *             ...
 *             if (cmd->__reserved)
 *                     return -EOPNOTSUPP;
 *
 *             ioas = iommufd_get_ioas(ucmd->ictx, cmd->ioas_id);
 *             ...
 *
 * THE FAULT: the `if (cmd->__reserved) return -EOPNOTSUPP;` test is lost (a
 * refactor that moved the checks around the new out_iova_alignment
 * member). IOMMU_IOAS_IOVA_RANGES with a nonzero __reserved then succeeds
 * (or answers ENOENT/EMSGSIZE/EFAULT as usual) instead of EOPNOTSUPP, and
 * the copy-back returns the caller's __reserved word unchanged.
 *
 * What a user sees: IOMMU_IOAS_IOVA_RANGES { __reserved = 1 } on a live IOAS
 * answers 0 with the ranges, where the kernel answers EOPNOTSUPP; a later
 * kernel that gives the word a meaning can no longer tell old callers apart.
 *
 * Applied as: the IOMMU_IOAS_IOVA_RANGES handler is the reference's
 * iommufd_ioas_iova_ranges without that test.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation } from '../harness.ts';
import { iovaRangesWith } from './_iova_ranges.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('iova-ranges-reserved-unchecked', profile, {
    // THE FAULT: `if (cmd->__reserved) return -EOPNOTSUPP;` is gone.
    handlers: { IOMMU_IOAS_IOVA_RANGES: iovaRangesWith({ checksReserved: false }) },
  });
}
