/**
 * unmap-all-ignores-iova (drivers/iommu/iommufd/ioas.c iommufd_ioas_unmap;
 * IOMMU_IOAS_UNMAP).
 *
 * The kernel (6.12 and 7.3 alike):
 *
 *     if (cmd->iova == 0 && cmd->length == U64_MAX) {
 *             rc = iopt_unmap_all(&ioas->iopt, &unmapped);
 *             if (rc)
 *                     goto out_put;
 *     } else {
 *             if (cmd->iova >= ULONG_MAX || cmd->length >= ULONG_MAX) {
 *                     rc = -EOVERFLOW;
 *                     goto out_put;
 *             }
 *             rc = iopt_unmap_iova(&ioas->iopt, cmd->iova, cmd->length, &unmapped);
 *             ...
 *
 * The "unmap everything" request is exactly (iova 0, length U64_MAX). The
 * fault tests the length alone (`if (cmd->length == U64_MAX)`), so any
 * request with length U64_MAX -- which the kernel refuses with -EOVERFLOW --
 * unmaps every area of the IOAS, including those below `iova`.
 *
 * Observable: IOMMU_IOAS_UNMAP {iova: X != 0, length: U64_MAX} succeeds
 * (length = every byte mapped, 0 on an empty IOAS) instead of -EOVERFLOW, and
 * the mappings below X are gone from the IOAS and its domains (a later DMA or
 * translation of them faults; a later fixed MAP there succeeds; the pins and
 * their accounting are dropped).
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation } from '../harness.ts';
import { ULONG_MAX } from '../../../impl/iommufd/iommufd_private.ts';
import { ioptUnmapIovaRange } from '../../../impl/iommufd/io_pagetable.ts';
import { ioasUnmapWith } from './_unmap.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('unmap-all-ignores-iova', profile, {
    // THE FAULT: `cmd->iova == 0 &&` dropped from the unmap-all test.
    handlers: { IOMMU_IOAS_UNMAP: ioasUnmapWith(ioptUnmapIovaRange, { isUnmapAll: (_iova, length) => length === ULONG_MAX }) },
  });
}
