/**
 * split-drops-storage-domain (drivers/iommu/iommufd/io_pagetable.c
 * iopt_area_split, reached from iommufd_vfio_unmap_dma → iopt_cut_iova).
 *
 * VFIO type1 (v1) compatibility lets userspace unmap part of a mapping:
 * iommufd_vfio_unmap_dma cuts the areas at the ends of the range
 * (iopt_cut_iova → iopt_area_split) and then unmaps the whole areas inside.
 * iopt_area_split replaces the area by two new ones on the same iopt_pages,
 * and the new areas inherit the area's domain state:
 *     lhs->storage_domain = area->storage_domain;
 *     lhs->pages = area->pages;
 *     rhs->storage_domain = area->storage_domain;
 *     rhs->pages = area->pages;
 *     kref_get(&rhs->pages->kref);
 *     kfree(area);
 * The fault loses the two storage_domain assignments (the kzalloc'ed halves
 * keep storage_domain == NULL) — the kind of line dropped when the
 * domains_itree update around it is reworked.
 *
 * iopt_area_unfill_domains() starts with
 *     if (!area->storage_domain) goto out_unlock;
 * so when a half is later unmapped (the rest of the VFIO_IOMMU_UNMAP_DMA,
 * a later UNMAP_DMA, VFIO_DMA_UNMAP_FLAG_ALL, or the IOAS's destruction)
 * nothing is unmapped from the IOAS's domains and nothing is unpinned, while
 * the area itself is removed from the IOVA tree and reported as unmapped.
 * Removing the last domain (iopt_unfill_domain) does not unpin it either.
 *
 * Consequence for a user: after a successful VFIO_IOMMU_UNMAP_DMA of part of
 * a mapping, the devices attached to the compat IOAS can still read and write
 * the unmapped IOVA range, i.e. the user memory the process believes is no
 * longer reachable by DMA (a stale translation); the pages stay pinned (and
 * charged) for good, even after every fd is closed; and a new mapping at that
 * IOVA fails in the domain (the IOVA is still mapped there).
 *
 * Applied as: VFIO_IOMMU_UNMAP_DMA on the iommufd is served by _split.ts's copy of the
 * reference's iommufd_vfio_unmap_dma whose area split does not carry the
 * area's domain state (`filled`, which stands for storage_domain and the
 * pins it holds) over to the two halves.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { splitMutant } from './_split.ts';

export function createAdapter(profile: Profile): Implementation {
  // THE FAULT: lhs->storage_domain / rhs->storage_domain are not set: the halves are not
  // `filled`, and the area's pins for the domains stay with no owner.
  return splitMutant('split-drops-storage-domain', profile, { halvesKeepDomain: false });
}
