/**
 * free-pages-list-kfrees-area (drivers/iommu/iommufd/io_pagetable.c
 * iopt_free_pages_list).
 *
 * iopt_map_pages (IOMMU_IOAS_MAP, IOMMU_IOAS_COPY, VFIO_IOMMU_MAP_DMA)
 * allocates one iopt_area per element of its pages list and, in
 * iopt_alloc_area_pages, links each into iopt->area_itree with a NULL
 * area->pages, so that the IOVA range is claimed while the domains are
 * filled. When anything after that fails (a later element's
 * iopt_insert_area: EPERM/EINVAL; iopt_fill_domains_pages: a pin that faults,
 * RLIMIT_MEMLOCK, a domain map), the caller's iopt_free_pages_list must take
 * those half-built areas out of the tree again:
 *     if (elm->area)
 *             iopt_abort_area(elm->area);   // interval_tree_remove + kfree
 * The fault frees them the way they were allocated, as the code did before
 * the areas were inserted at allocation time:
 *     if (elm->area)
 *             kfree(elm->area);             // still linked in area_itree
 * Nothing else changes: the success path hands the areas over (elm->area =
 * NULL) and IOMMU_IOAS_UNMAP aborts finished areas itself.
 *
 * Consequence: a failed map leaves a dead node in the IOAS's area tree: a
 * zero-filled area with no pages (the kernel's freed memory reads as such
 * until it is reused) covering the IOVA range the failed map claimed.
 * Nothing is mapped there, but the range can never be used or released
 * again: a retry of the same FIXED_IOVA map fails with EEXIST, automatic
 * allocation steps around it, and every IOMMU_IOAS_UNMAP that reaches it —
 * including the unmap-everything form (0, U64_MAX) — fails with EBUSY ("a
 * map/unmap race"), so the IOAS can no longer be emptied and its destruction
 * trips iommufd_ioas_destroy's WARN_ON(iopt_unmap_all()).
 *
 * Applied as: the reference's iopt_map_pages, and when it fails the list's
 * areas are dropped from the list before iopt_free_pages_list runs (so they
 * stay in iopt->areas, pages NULL) — on IOMMU_IOAS_MAP, IOMMU_IOAS_COPY and
 * VFIO_IOMMU_MAP_DMA.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation } from '../harness.ts';
import { ioptMapPages } from '../../../impl/iommufd/io_pagetable.ts';
import { ioasMapHandler, vfioMapDmaHandler } from './_map.ts';
import { copyHandler } from './_copy.ts';

/** iopt_map_pages; on failure the caller's iopt_free_pages_list kfree()s the areas without iopt_abort_area. */
const mapPages: typeof ioptMapPages = (iopt, list, length, dstIova, prot, flags) => {
  const rc = ioptMapPages(iopt, list, length, dstIova, prot, flags);
  if (rc) {
    // THE FAULT: the inserted areas are freed, not removed from area_itree.
    for (const elm of list) elm.area = null;
  }
  return rc;
};

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('free-pages-list-kfrees-area', profile, {
    handlers: {
      IOMMU_IOAS_MAP: ioasMapHandler({ mapPages }),
      IOMMU_IOAS_COPY: copyHandler({ mapPages }),
    },
    compat: {
      VFIO_IOMMU_MAP_DMA: vfioMapDmaHandler({ mapPages }),
    },
  });
}
