/**
 * compat-unmap-accepts-vaddr-flag (drivers/iommu/iommufd/vfio_compat.c,
 * iommufd_vfio_unmap_dma).
 *
 * The kernel's type1 emulation supports one unmap flag:
 *     u32 supported_flags = VFIO_DMA_UNMAP_FLAG_ALL;
 *     ...
 *     if (unmap.argsz < minsz || unmap.flags & ~supported_flags)
 *             return -EINVAL;
 * VFIO_DMA_UNMAP_FLAG_VADDR (invalidate the host vaddr, keep the IOVA mapped,
 * for live update) and GET_DIRTY_BITMAP are refused with EINVAL: iommufd
 * does not implement them (see the VFIO_UPDATE_VADDR comment in
 * iommufd_vfio_check_extension).
 *
 * THE FAULT: supported_flags is VFIO_DMA_UNMAP_FLAG_ALL |
 * VFIO_DMA_UNMAP_FLAG_VADDR, the mask taken over from vfio_iommu_type1.c's
 * vfio_iommu_type1_unmap_dma (which handles VADDR) when the compat code was
 * written, with no VADDR branch behind it. An unmap with FLAG_VADDR is then
 * served as a plain unmap (or, with FLAG_ALL too, as unmap-all).
 *
 * Observable: VFIO_IOMMU_UNMAP_DMA with VFIO_DMA_UNMAP_FLAG_VADDR succeeds and
 * removes the range — the IOVA no longer translates, device DMA to it faults,
 * its pages are unpinned and `size` reports bytes unmapped — where the kernel
 * answers EINVAL and keeps the mapping.
 */
import { VFIO_DMA_UNMAP_FLAG_ALL, VFIO_DMA_UNMAP_FLAG_VADDR } from '../../../spec/uapi/constants.ts';
import { ioptCutIova } from '../../../impl/iommufd/io_pagetable.ts';
import { ioptAreaUnfillDomains } from '../../../impl/iommufd/pages.ts';
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation } from '../harness.ts';
import { unmapRange, vfioUnmapDmaWith } from './_unmap.ts';

export function createAdapter(profile: Profile): Implementation {
  const unmapDma = vfioUnmapDmaWith(
    (iopt, start, last, unmapped) => unmapRange(iopt, start, last, unmapped, ioptAreaUnfillDomains),
    ioptCutIova,
    undefined,
    // THE FAULT: type1's mask; VADDR accepted and then ignored.
    VFIO_DMA_UNMAP_FLAG_ALL | VFIO_DMA_UNMAP_FLAG_VADDR,
  );
  return mutantImplementation('compat-unmap-accepts-vaddr-flag', profile, {
    compat: { VFIO_IOMMU_UNMAP_DMA: (ctx, d, arg) => unmapDma(ctx, d, arg) },
  });
}
