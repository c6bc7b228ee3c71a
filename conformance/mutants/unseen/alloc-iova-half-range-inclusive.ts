/**
 * alloc-iova-half-range-inclusive — iopt_alloc_iova (drivers/iommu/iommufd/io_pagetable.c).
 *
 * The kernel:
 *
 *     /* Protect roundup_pow-of_two() from overflow *\/
 *     if (length == 0 || length >= ULONG_MAX / 2)
 *             return -EOVERFLOW;
 *
 * The fault makes the bound exclusive (`length > ULONG_MAX / 2`): a length of
 * exactly ULONG_MAX / 2 (0x7fffffffffffffff) is no longer refused. Its
 * roundup_pow_of_two is 2^63 (no overflow on 64-bit, so nothing breaks), and
 * with no domain attached (nothing pinned at MAP time) the automatic IOVA is
 * found at the bottom of the window: IOMMU_IOAS_MAP / IOMMU_IOAS_COPY without
 * FIXED_IOVA of that length succeed (a 2^63-byte area) where the kernel answers
 * EOVERFLOW.
 *
 * User-visible: EOVERFLOW becomes success for one length. Both profiles.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation } from '../harness.ts';
import { ULONG_MAX } from '../../../impl/iommufd/iommufd_private.ts';
import { allocIovaWith, ioasMapHandler, mapPagesWith } from './_map.ts';
import { copyHandler } from './_copy.ts';

export function createAdapter(profile: Profile): Implementation {
  // THE FAULT: `length > ULONG_MAX / 2` (the kernel: >=).
  const mapPages = mapPagesWith({ allocIova: allocIovaWith({ tooLong: (length) => length > ULONG_MAX / 2n }) });
  return mutantImplementation('alloc-iova-half-range-inclusive', profile, {
    handlers: {
      IOMMU_IOAS_MAP: ioasMapHandler({ mapPages }),
      IOMMU_IOAS_COPY: copyHandler({ mapPages }),
    },
  });
}
