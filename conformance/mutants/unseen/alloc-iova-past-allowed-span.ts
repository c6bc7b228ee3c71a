/**
 * alloc-iova-past-allowed-span (drivers/iommu/iommufd/io_pagetable.c
 * iopt_alloc_iova).
 *
 * Once IOMMU_IOAS_ALLOW_IOVAS has given an IOAS a list of allowed ranges,
 * automatic IOVA allocation (IOMMU_IOAS_MAP / IOMMU_IOAS_COPY without
 * IOMMU_IOAS_MAP_FIXED_IOVA) must place every new area inside one of them:
 * for each allowed span big enough for the length, iopt_alloc_iova walks the
 * holes of reserved_itree ∪ area_itree *within that span*:
 *
 *     interval_tree_for_each_span(&allowed_span, &iopt->allowed_itree,
 *                                 PAGE_SIZE, ULONG_MAX - PAGE_SIZE) {
 *             ...
 *             interval_tree_for_each_double_span(
 *                     &used_span, &iopt->reserved_itree, &iopt->area_itree,
 *                     allowed_span.start_used, allowed_span.last_used) {
 *
 * The fault bounds the inner walk with the outer iterator's last_index
 * (ULONG_MAX - PAGE_SIZE, the iteration bound the struct carries next to
 * start_used/last_used) instead of allowed_span.last_used. While the
 * allowed span still has a fitting hole nothing changes (first fit finds
 * it); once earlier maps have filled it (or fragmented it so the aligned
 * length no longer fits), the walk runs on past the span's end and returns
 * the first hole beyond it: an area that starts in the allowed range and
 * runs past its end, or one entirely outside every allowed range. Without
 * allowed ranges the window is [PAGE_SIZE, ULONG_MAX - PAGE_SIZE] either
 * way, so only IOASes with ALLOW_IOVAS are affected.
 *
 * Consequence: the IOAS maps user memory at IOVAs the VMM declared not
 * usable (ALLOW_IOVAS is how it confines the IOAS to, say, the guest's
 * IOVA window or an emulated vIOMMU's aperture), instead of failing with
 * ENOSPC; a device attached to the IOAS can reach that memory at IOVAs the
 * VMM never exposes, and later fixed maps the VMM does place inside its
 * window meet no conflict while the guest-visible layout is wrong.
 *
 * Applied to IOMMU_IOAS_MAP and IOMMU_IOAS_COPY through _map.ts and
 * _copy.ts and a copy of iopt_map_pages / iopt_alloc_area_pages /
 * iopt_alloc_iova.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation } from '../harness.ts';
import { copyHandler } from './_copy.ts';
import { allocIovaWith, ioasMapHandler, mapPagesWith } from './_map.ts';

/** iopt_alloc_iova with the hole walk bounded by the iterator's last_index instead of the allowed span's last_used. */
// THE FAULT: interval_tree_for_each_double_span(..., allowed_span.start_used, allowed_span.last_index)
const allocIova = allocIovaWith({ walkLast: (_span, windowLast) => windowLast });

/** iopt_map_pages over the faulty iopt_alloc_iova. */
const mapPages = mapPagesWith({ allocIova });

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('alloc-iova-past-allowed-span', profile, {
    handlers: {
      IOMMU_IOAS_MAP: ioasMapHandler({ mapPages }),
      IOMMU_IOAS_COPY: copyHandler({ mapPages }),
    },
  });
}
