/**
 * alloc-iova-first-fitting-span-only (drivers/iommu/iommufd/io_pagetable.c
 * iopt_alloc_iova; reached from iopt_alloc_area_pages for IOMMU_IOAS_MAP and
 * IOMMU_IOAS_COPY without IOMMU_IOAS_MAP_FIXED_IOVA; 6.12 and 7.3).
 *
 * The automatic IOVA is a first fit over the allowed ranges (or the whole
 * [PAGE_SIZE, ULONG_MAX - PAGE_SIZE] when IOMMU_IOAS_ALLOW_IOVAS set none):
 * for each allowed span big enough in itself, the holes of reserved_itree and
 * area_itree inside it are searched; a span whose holes are all too small is
 * passed over and the search goes on with the next span:
 *
 *     interval_tree_for_each_span(&allowed_span, &iopt->allowed_itree,
 *                                 PAGE_SIZE, ULONG_MAX - PAGE_SIZE) {
 *             ...
 *             if (!__alloc_iova_check_used(&allowed_span, length,
 *                                          iova_alignment, page_offset))
 *                     continue;
 *
 *             interval_tree_for_each_double_span(
 *                     &used_span, &iopt->reserved_itree, &iopt->area_itree,
 *                     allowed_span.start_used, allowed_span.last_used) {
 *                     if (!__alloc_iova_check_hole(&used_span, length,
 *                                                  iova_alignment,
 *                                                  page_offset))
 *                             continue;
 *
 *                     *iova = used_span.start_hole;
 *                     return 0;
 *             }
 *     }
 *     return -ENOSPC;
 *
 * THE FAULT: the hole search is moved into a helper that returns 0 or
 * -ENOSPC, and the caller returns its result as is:
 *
 *             return iopt_alloc_iova_in_span(iopt, iova, &allowed_span,
 *                                            length, iova_alignment,
 *                                            page_offset);
 *
 * so the first allowed span large enough for the length decides: when areas
 * (or reserved ranges) already fill it up the answer is -ENOSPC, though a
 * later allowed span has room.
 *
 * Invisible without IOMMU_IOAS_ALLOW_IOVAS (one span: the whole window) or
 * with a single allowed range. It takes state built by earlier commands: two
 * or more allowed ranges, the first big enough for the request, and earlier
 * MAPs/COPYs (or a device's reserved regions) leaving no hole in it that
 * fits: then IOMMU_IOAS_MAP / IOMMU_IOAS_COPY without FIXED_IOVA fail with
 * ENOSPC where the kernel places the mapping in the next range — and an
 * IOAS whose first allowed range filled up refuses every automatic mapping
 * until something in that range is unmapped.
 *
 * Applied as: IOMMU_IOAS_MAP and IOMMU_IOAS_COPY through copies of
 * iommufd_ioas_map / iommufd_ioas_copy (_map.ts, _copy.ts) whose
 * iopt_map_pages allocates with _map.ts's iopt_alloc_iova with that one
 * step changed (the reference's steps otherwise).
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation } from '../harness.ts';
import { allocIovaWith, ioasMapHandler, mapPagesWith } from './_map.ts';
import { copyHandler } from './_copy.ts';

export function createAdapter(profile: Profile): Implementation {
  // THE FAULT: iopt_alloc_iova_in_span's -ENOSPC is returned as it is; the next allowed spans are never searched.
  const mapPages = mapPagesWith({ allocIova: allocIovaWith({ firstFittingSpanOnly: true }) });
  return mutantImplementation('alloc-iova-first-fitting-span-only', profile, {
    handlers: {
      IOMMU_IOAS_MAP: ioasMapHandler({ mapPages }),
      IOMMU_IOAS_COPY: copyHandler({ mapPages }),
    },
  });
}
