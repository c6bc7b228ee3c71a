/**
 * alloc-iova-allowed-touching-split — iopt_alloc_iova (drivers/iommu/iommufd/io_pagetable.c).
 *
 * The kernel walks the allowed ranges as merged spans:
 *
 *     interval_tree_for_each_span(&allowed_span, &iopt->allowed_itree,
 *                                 PAGE_SIZE, ULONG_MAX - PAGE_SIZE) {
 *             ...
 *             if (!__alloc_iova_check_used(&allowed_span, length,
 *                                          iova_alignment, page_offset))
 *                     continue;
 *
 * so ranges that touch ([a, b] and [b + 1, c], which IOMMU_IOAS_ALLOW_IOVAS
 * accepts: only overlaps are refused) form one span [a, c]. The fault walks
 * the allowed_itree node by node (iopt_allowed_iter_first/next) instead, so a
 * placement that fits only across the seam of two touching allowed ranges is
 * never found: IOMMU_IOAS_MAP / IOMMU_IOAS_COPY without FIXED_IOVA answer
 * ENOSPC although the allowed space has room. The hole walk over
 * reserved ∪ areas is unchanged.
 *
 * User-visible: an automatic MAP/COPY fails with ENOSPC where the kernel
 * places it. Both profiles.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation } from '../harness.ts';
import { usedSpans } from '../../../impl/iommufd/io_pagetable.ts';
import type { Range } from '../../../impl/iommufd/iommufd_private.ts';
import { allocIovaWith, ioasMapHandler, mapPagesWith } from './_map.ts';
import { copyHandler } from './_copy.ts';

export function createAdapter(profile: Profile): Implementation {
  const spans = (trees: readonly (readonly Range[])[]): Range[] =>
    // The allowed walk is the only one over a single tree (the used walk is reserved_itree + area_itree).
    // THE FAULT: the allowed nodes one by one, touching ones not joined into one span.
    trees.length === 1 ? [...trees[0]!].sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0)).map((r) => ({ start: r.start, last: r.last })) : usedSpans(trees);
  const mapPages = mapPagesWith({ allocIova: allocIovaWith({ spans }) });
  return mutantImplementation('alloc-iova-allowed-touching-split', profile, {
    handlers: {
      IOMMU_IOAS_MAP: ioasMapHandler({ mapPages }),
      IOMMU_IOAS_COPY: copyHandler({ mapPages }),
    },
  });
}
