/**
 * unmap-notify-rest-of-request (drivers/iommu/iommufd/io_pagetable.c
 * iopt_unmap_iova_range, reached from IOMMU_IOAS_UNMAP and
 * VFIO_IOMMU_UNMAP_DMA; 6.12 and 7.3).
 *
 * An area that in-kernel accesses pin cannot go until they let go: the walk
 * marks it prevent_access, tells every access of the IOAS to unpin what it
 * holds in that area, and starts over:
 *
 *     if (area->num_accesses) {
 *             size_t length = iopt_area_length(area);
 *
 *             start = area_first;
 *             area->prevent_access = true;
 *             up_write(&iopt->iova_rwsem);
 *             up_read(&iopt->domains_rwsem);
 *
 *             iommufd_access_notify_unmap(iopt, area_first, length);
 *             ...
 *             goto again;
 *     }
 *
 * THE FAULT tells the accesses about the rest of the request instead of the
 * area — "they will have to let go of all of it anyway, one notification
 * instead of one per area":
 *
 *             iommufd_access_notify_unmap(iopt, start, last - start + 1);
 *
 * An access's unmap callback must unpin everything it holds in the range it
 * is given (the selftest's drops every item intersecting it; vfio mdev
 * drivers tear their DMA down). Nothing changes while the walk then removes
 * every area of that range. But the walk stops at the first area that
 * crosses the end of the range (ENOENT: no splitting) — after the earlier
 * areas are already gone, as the kernel does: the accesses were also told
 * to drop their pins in that crossing area, which stays mapped. A device
 * driver loses DMA mappings of an IOAS range the user never unmapped (an
 * mdev whose buffer vanishes under it), its pins are gone while the IOAS
 * still maps the memory, and its own bookkeeping says nothing was unmapped
 * there. Only an unmap that both meets an accessed area and then fails on a
 * later area shows it.
 *
 * Applied as: IOMMU_IOAS_UNMAP and VFIO_IOMMU_UNMAP_DMA run _unmap.ts's copy
 * of the reference's walk, whose notification covers [area_first, last] of
 * the request (its `told` step).
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation } from '../harness.ts';
import { ioptAreaUnfillDomains } from '../../../impl/iommufd/pages.ts';
import { HAS_ACCESSES, ioasUnmapWith, type RangeUnmap, REFUSES_CUT, type Told, unmapRange, vfioUnmapDmaWith } from './_unmap.ts';

/** THE FAULT: the rest of the request, (start, last - start + 1), where (area_first, iopt_area_length(area)) belongs (start is area_first by then). */
const restOfRequest: Told = (_area, start, last) => ({ iova: start, length: last - start + 1n });

/** iopt_unmap_iova_range with the faulty notification range. */
const unmapIovaRange: RangeUnmap = (iopt, start, last, unmapped) => unmapRange(iopt, start, last, unmapped, ioptAreaUnfillDomains, REFUSES_CUT, HAS_ACCESSES, restOfRequest);

export function createAdapter(profile: Profile): Implementation {
  const vfioUnmap = vfioUnmapDmaWith(unmapIovaRange);
  return mutantImplementation('unmap-notify-rest-of-request', profile, {
    handlers: { IOMMU_IOAS_UNMAP: ioasUnmapWith(unmapIovaRange) },
    compat: { VFIO_IOMMU_UNMAP_DMA: (ctx, d, arg) => vfioUnmap(ctx, d, arg) },
  });
}
