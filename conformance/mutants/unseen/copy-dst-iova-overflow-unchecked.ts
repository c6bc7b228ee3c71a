/**
 * copy-dst-iova-overflow-unchecked (drivers/iommu/iommufd/ioas.c
 * iommufd_ioas_copy, IOMMU_IOAS_COPY; 6.12 and 7.3 alike).
 *
 * The kernel:
 *
 *     if (cmd->length >= ULONG_MAX || cmd->src_iova >= ULONG_MAX ||
 *         cmd->dst_iova >= ULONG_MAX)
 *             return -EOVERFLOW;
 *
 * The fault drops the `cmd->dst_iova >= ULONG_MAX` term (dst_iova "is only an
 * output without IOMMU_IOAS_MAP_FIXED_IOVA"), so the u64 input is no longer
 * validated before anything else runs.
 *
 * What a user sees: an IOMMU_IOAS_COPY without IOMMU_IOAS_MAP_FIXED_IOVA whose
 * dst_iova is U64_MAX succeeds, allocating an IOVA and writing it back, where
 * the kernel refuses it with -EOVERFLOW (and copies nothing); with a fixed
 * dst_iova of U64_MAX the error becomes iopt_check_iova's (-EINVAL when the
 * IOAS has an alignment above 1, else -EOVERFLOW), and the ordering against
 * the later checks changes (e.g. missing READ/WRITE flags give -EINVAL, a bad
 * source range -ENOENT, instead of -EOVERFLOW).
 *
 * Applied as: copyHandler (_copy.ts) with the EOVERFLOW test lacking its
 * dst_iova term; the rest of the copy is the reference's.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { ULONG_MAX } from '../../../impl/iommufd/iommufd_private.ts';
import { mutantImplementation } from '../harness.ts';
import { copyHandler } from './_copy.ts';

/** iommufd_ioas_copy without the dst_iova bound. THE FAULT: `|| cmd->dst_iova >= ULONG_MAX` dropped. */
const ioasCopy = copyHandler({ overflows: (length, srcIova) => length >= ULONG_MAX || srcIova >= ULONG_MAX });

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('copy-dst-iova-overflow-unchecked', profile, {
    handlers: { IOMMU_IOAS_COPY: ioasCopy },
  });
}
