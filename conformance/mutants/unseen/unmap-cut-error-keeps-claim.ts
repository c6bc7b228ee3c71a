/**
 * unmap-cut-error-keeps-claim (drivers/iommu/iommufd/io_pagetable.c
 * iopt_unmap_iova_range, reached from IOMMU_IOAS_UNMAP and the VFIO type1
 * compat VFIO_IOMMU_UNMAP_DMA).
 *
 * An area is torn down by taking its pages out of it under the iova_rwsem
 * (area->pages = NULL tells map/copy/attach/access that the area is going),
 * but only once every test has passed:
 *
 *     if (!area->pages) { rc = -EBUSY; goto out_unlock_iova; }
 *     if (area->num_locks) { rc = -EBUSY; goto out_unlock_iova; }
 *     if (area_first < start || area_last > last) {
 *             rc = -ENOENT;
 *             goto out_unlock_iova;
 *     }
 *     if (area->num_accesses) { ... notify the accesses ...; goto again; }
 *     pages = area->pages;
 *     area->pages = NULL;
 *
 * The fault is a rework that claims the area first (pages = area->pages;
 * if (!pages) → EBUSY; area->pages = NULL;) and gives the pages back before
 * the accesses are notified and on the num_locks exit, but not on the
 * ENOENT exit for an area the range only partly covers. A failed
 * IOMMU_IOAS_UNMAP whose range cuts an area (the everyday mistake of
 * unmapping part of a mapping) leaves that area in the IOVA tree with
 * pages == NULL: "being torn down" for good.
 *
 * Consequence, after the failed unmap: the area is still mapped and pinned in
 * every domain (devices keep DMAing to it), but every later IOMMU_IOAS_UNMAP
 * over it, including unmap-all, fails with EBUSY (areas before it in the
 * range are removed first); IOAS_COPY and access pins/reads of it fail with
 * ENOENT; a new domain attached to the IOAS skips it (iopt_fill_domain: no
 * pages), so its devices see a hole there; and when the HWPTs go
 * (iopt_table_remove_domain also skips areas without pages) and the IOAS is
 * destroyed (iopt_unmap_all fails: the kernel WARNs and frees the table),
 * the pages are never unpinned: the memory stays pinned and charged to the
 * user's RLIMIT_MEMLOCK after everything is closed.
 *
 * Applied on IOMMU_IOAS_UNMAP and VFIO_IOMMU_UNMAP_DMA through a copy of the
 * reference's iopt_unmap_iova_range with the claim moved up.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation } from '../harness.ts';
import { EBUSY, EDEADLOCK, ENOENT } from '../../../impl/lib/errno.ts';
import type { IoPagetable } from '../../../impl/iommufd/iommufd_private.ts';
import { ioptAreaIterFirst } from '../../../impl/iommufd/io_pagetable.ts';
import { ioptAreaUnfillDomains, ioptPutPages } from '../../../impl/iommufd/pages.ts';
import { ioasUnmapWith, vfioUnmapDmaWith } from './_unmap.ts';

/** iopt_unmap_iova_range with the teardown claim taken before the range test. */
function unmapRange(iopt: IoPagetable, start: bigint, last: bigint, unmapped: { bytes: bigint }): number {
  let tries = 0;
  unmapped.bytes = 0n;
  for (;;) {
    const area = ioptAreaIterFirst(iopt, start, last);
    if (!area) return 0;
    const areaFirst = area.start;
    const areaLast = area.last;
    // Userspace should not race map/unmap's of the same area.
    const pages = area.pages;
    if (!pages) return -EBUSY;
    area.pages = null; // claim the area under the iova_rwsem
    if (area.numLocks) {
      area.pages = pages;
      return -EBUSY;
    }
    // THE FAULT: the claim is not given back on this exit.
    if (areaFirst < start || areaLast > last) return -ENOENT;
    if (areaFirst !== start) tries = 0;
    if (area.numAccesses) {
      area.pages = pages; // the accesses unpin through the area
      start = areaFirst;
      area.preventAccess = true;
      for (const access of [...iopt.accessList.values()]) access.notifyUnmap(areaFirst, area.length);
      tries++;
      if (tries > 100) return -EDEADLOCK;
      continue;
    }
    ioptAreaUnfillDomains(iopt, area, pages);
    iopt.areas.splice(iopt.areas.indexOf(area), 1); // iopt_abort_area
    ioptPutPages(pages);
    unmapped.bytes += areaLast - areaFirst + 1n;
    if (areaLast >= last) return 0;
    start = areaLast + 1n;
  }
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('unmap-cut-error-keeps-claim', profile, {
    handlers: { IOMMU_IOAS_UNMAP: ioasUnmapWith(unmapRange) },
    compat: { VFIO_IOMMU_UNMAP_DMA: vfioUnmapDmaWith(unmapRange) },
  });
}
