/**
 * R34-C2 — compat-v1-unmap-cuts-end-only (drivers/iommu/iommufd/vfio_compat.c
 * iommufd_vfio_unmap_dma, VFIO_IOMMU_UNMAP_DMA on a VFIO_TYPE1_IOMMU (v1)
 * container; the same code in 6.12 and 7.3).
 *
 * Type1 v1 lets an unmap split a mapping, so before unmapping iommufd cuts the
 * areas at both ends of the range (the start is skipped only at IOVA 0):
 *
 *     if (READ_ONCE(ioas->iopt.disable_large_pages)) {
 *             unsigned long iovas[] = { unmap.iova + unmap.size - 1,
 *                                       unmap.iova - 1 };
 *
 *             rc = iopt_cut_iova(&ioas->iopt, iovas,
 *                                unmap.iova ? 2 : 1);
 *
 * THE FAULT: the count is inverted in meaning — only the last IOVA is cut
 * whatever the start ("the start is a mapping boundary already"):
 *
 *             rc = iopt_cut_iova(&ioas->iopt, iovas, 1);
 *
 * Plausible: the `unmap.iova ? 2 : 1` special case reads like an optimisation
 * and is easy to collapse; unmaps that start on a mapping boundary (the
 * common case, and all of v2) behave the same.
 *
 * Observable (type1 v1 only, an unmap starting inside a mapping): the end
 * cut happens, then iopt_unmap_iova finds an area starting before the range
 * and refuses it (ENOENT, size 0 written back) where the kernel unmaps the
 * tail of the mapping; the range stays mapped and DMA still reaches it, and
 * the mapping is left split at the end.
 *
 * Applied as: VFIO_IOMMU_UNMAP_DMA on the compat IOAS, for a v1 container,
 * cuts only at iova + size - 1.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { ioptCutIova } from '../../../impl/iommufd/io_pagetable.ts';
import { mutantImplementation } from '../harness.ts';
import { unmapRange } from './_unmap.ts';
import { ioptAreaUnfillDomains } from '../../../impl/iommufd/pages.ts';
import { vfioUnmapDmaWith } from './_unmap.ts';

export function createAdapter(profile: Profile): Implementation {
  const unmapDma = vfioUnmapDmaWith(
    (iopt, start, last, unmapped) => unmapRange(iopt, start, last, unmapped, ioptAreaUnfillDomains),
    (iopt, iovas) => ioptCutIova(iopt, iovas.slice(0, 1)), // iopt_cut_iova(..., iovas, 1)
  );
  return mutantImplementation('compat-v1-unmap-cuts-end-only', profile, {
    compat: { VFIO_IOMMU_UNMAP_DMA: (ctx, d, arg) => unmapDma(ctx, d, arg) },
  });
}
