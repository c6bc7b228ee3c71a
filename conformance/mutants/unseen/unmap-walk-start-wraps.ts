/**
 * unmap-walk-start-wraps (drivers/iommu/iommufd/io_pagetable.c
 * iopt_unmap_iova_range, reached from IOMMU_IOAS_UNMAP and the VFIO type1
 * compat VFIO_IOMMU_UNMAP_DMA).
 *
 * The unmap walk drops the iova_rwsem while it tears an area down, so after
 * each area it moves the start of its search past what it already removed,
 * and stops once the area it removed reaches the end of the range:
 *
 *     unmapped_bytes += area_last - area_first + 1;
 *
 *     down_write(&iopt->iova_rwsem);
 *
 *     /*
 *      * After releasing the iova_rwsem concurrent allocation could
 *      * place new areas at IOVAs we have already unmapped. Keep
 *      * moving the start of the search forward to ignore the area
 *      * already unmapped.
 *      *\/
 *     if (area_last >= last)
 *             break;
 *     start = area_last + 1;
 *
 * The fault drops the `break` as redundant — the loop condition
 * `while ((area = iopt_area_iter_first(iopt, start, last)))` looks like it
 * ends the walk by itself once start passes last, and for every area but one
 * it does (no area can contain both `last` and `last + 1` once the area
 * ending at `last` is gone):
 *
 *     start = area_last + 1;
 *
 * The one area it does not end for is an area whose last IOVA is ULONG_MAX:
 * `area_last + 1` wraps to 0 and the walk starts over from the bottom of the
 * IOVA space with the same `last` (ULONG_MAX), removing every other area of
 * the IOAS that nothing blocks (an area with in-kernel accesses is still
 * waited for; a locked or half-built area stops the walk with EBUSY after the
 * rest are gone).
 *
 * Consequence: an IOAS may map the very top of the IOVA space (while it has
 * no domain, or on a kernel whose domain aperture reaches ULONG_MAX, as the
 * 6.12 AMD v1 one does; the model's page tables stop at 2^53, so here only
 * domain-less IOASes get there). IOMMU_IOAS_UNMAP of that top mapping alone
 * (iova = 2^64 - n, length = n) succeeds, but every other mapping of the IOAS
 * goes with it: unmapped from the domains (the devices' DMA to them now
 * faults), unpinned, removed from the IOVA space (later UNMAP/COPY of them
 * give ENOENT, the IOVAs are free for new maps); the answer's length counts
 * them all. VFIO_IOMMU_UNMAP_DMA of the top mapping does the same on the
 * compat IOAS. Nothing is visible until some other area exists and the top
 * one is unmapped.
 *
 * Applied as: IOMMU_IOAS_UNMAP and VFIO_IOMMU_UNMAP_DMA are served by the
 * shared copies of iommufd_ioas_unmap / iommufd_vfio_unmap_dma (_unmap.ts)
 * over a copy of the reference's walk without the `area_last >= last` stop,
 * whose next start wraps at 2^64 as an unsigned long does.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { EBUSY, EDEADLOCK, ENOENT } from '../../../impl/lib/errno.ts';
import type { IoPagetable } from '../../../impl/iommufd/iommufd_private.ts';
import { ioptAreaIterFirst } from '../../../impl/iommufd/io_pagetable.ts';
import { ioptAreaUnfillDomains, ioptPutPages } from '../../../impl/iommufd/pages.ts';
import { mutantImplementation } from '../harness.ts';
import { ioasUnmapWith, vfioUnmapDmaWith, type RangeUnmap } from './_unmap.ts';

/** iopt_unmap_iova_range without the end-of-range stop. */
const walk: RangeUnmap = (iopt: IoPagetable, first: bigint, last: bigint, unmapped: { bytes: bigint }): number => {
  let start = first;
  let tries = 0;
  unmapped.bytes = 0n;
  for (;;) {
    const area = ioptAreaIterFirst(iopt, start, last);
    if (!area) return 0;
    const areaFirst = area.start;
    const areaLast = area.last;
    if (!area.pages) return -EBUSY;
    if (area.numLocks) return -EBUSY;
    if (areaFirst < start || areaLast > last) return -ENOENT;
    if (areaFirst !== start) tries = 0;
    if (area.numAccesses) {
      start = areaFirst;
      area.preventAccess = true;
      for (const access of [...iopt.accessList.values()]) access.notifyUnmap(areaFirst, area.length);
      tries++;
      if (tries > 100) return -EDEADLOCK;
      continue;
    }
    const pages = area.pages;
    area.pages = null;
    ioptAreaUnfillDomains(iopt, area, pages);
    iopt.areas.splice(iopt.areas.indexOf(area), 1);
    ioptPutPages(pages);
    unmapped.bytes += areaLast - areaFirst + 1n;
    // THE FAULT: `if (area_last >= last) break;` is gone; start is an unsigned long.
    start = BigInt.asUintN(64, areaLast + 1n);
  }
};

export function createAdapter(profile: Profile): Implementation {
  const vfioUnmap = vfioUnmapDmaWith(walk);
  return mutantImplementation('unmap-walk-start-wraps', profile, {
    handlers: { IOMMU_IOAS_UNMAP: ioasUnmapWith(walk) },
    compat: { VFIO_IOMMU_UNMAP_DMA: (ctx, d, arg) => vfioUnmap(ctx, d, arg) },
  });
}
