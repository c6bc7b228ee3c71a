/**
 * unmap-overflow-check-full-length
 *
 * Kernel: drivers/iommu/iommufd/io_pagetable.c, iopt_unmap_iova() (reached by
 * IOMMU_IOAS_UNMAP and VFIO_IOMMU_UNMAP_DMA on the compat IOAS):
 *
 *	if (!length)
 *		return -EINVAL;
 *
 *	if (check_add_overflow(iova, length - 1, &iova_last))
 *		return -EOVERFLOW;
 *
 *	return iopt_unmap_iova_range(iopt, iova, iova_last, unmapped);
 *
 * The fault tests the exclusive end for overflow,
 * `check_add_overflow(iova, length, &iova_end)` then `iova_last = iova_end - 1`,
 * the classic off-by-one of an end-exclusive overflow check: a range whose
 * last byte is ULONG_MAX (iova + length == 2^64) is refused with EOVERFLOW.
 * Only a range ending at the very top of the IOVA space reaches it.
 *
 * Observable: a mapping at the top page of the IOVA space (possible with no
 * domain aperture reserving it) cannot be unmapped by range: UNMAP of
 * [2^64 - 4096, +4096) answers EOVERFLOW and the mapping stays; the kernel
 * unmaps it. Unmap-all (iopt_unmap_all) is unaffected.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { EOVERFLOW } from '../../../impl/lib/errno.ts';
import { ULONG_MAX } from '../../../impl/iommufd/iommufd_private.ts';
import { ioptUnmapIovaRange } from '../../../impl/iommufd/io_pagetable.ts';
import { mutantImplementation } from '../harness.ts';
import { ioasUnmapWith, type RangeUnmap, vfioUnmapDmaWith } from './_unmap.ts';

/**
 * iopt_unmap_iova's range walk behind the faulty overflow test: a range given
 * by (iova, length) that ends at ULONG_MAX overflows `iova + length`. (Unmap
 * all walks [0, ULONG_MAX] itself; no (iova, length) pair with length < 2^64 starts at 0 and ends there.)
 */
const walk: RangeUnmap = (iopt, start, last, unmapped) => {
  if (start !== 0n && last === ULONG_MAX) return -EOVERFLOW; // FAULT: check_add_overflow(iova, length, ...)
  return ioptUnmapIovaRange(iopt, start, last, unmapped);
};

export function createAdapter(profile: Profile): Implementation {
  const compat = vfioUnmapDmaWith(walk);
  return mutantImplementation('unmap-overflow-check-full-length', profile, {
    handlers: { IOMMU_IOAS_UNMAP: (ucmd) => ioasUnmapWith(walk)(ucmd) },
    compat: { VFIO_IOMMU_UNMAP_DMA: (ctx, d, arg) => compat(ctx, d, arg) },
  });
}
