/**
 * alloc-iova-skips-reserved (drivers/iommu/iommufd/io_pagetable.c
 * iopt_alloc_iova).
 *
 * An IOVA the kernel picks for IOMMU_IOAS_MAP / IOMMU_IOAS_COPY without
 * IOMMU_IOAS_MAP_FIXED_IOVA must be clear of the areas already mapped AND of
 * every reserved range: the parts of the IOVA space outside an attached
 * domain's aperture (iopt_table_add_domain), the devices' reserved regions
 * (MSI windows, iopt_table_enforce_dev_resv_regions) and
 * IOMMU_TEST_OP_ADD_RESERVED ranges. The kernel walks the holes of both trees
 * at once:
 *
 *     interval_tree_for_each_double_span(
 *             &used_span, &iopt->reserved_itree, &iopt->area_itree,
 *             allowed_span.start_used, allowed_span.last_used) {
 *             if (!__alloc_iova_check_hole(&used_span, length,
 *                                          iova_alignment, page_offset))
 *                     continue;
 *             *iova = used_span.start_hole;
 *             return 0;
 *     }
 *
 * THE FAULT: the walk is a single-tree span iteration over area_itree only
 * (interval_tree_for_each_span(&used_span, &iopt->area_itree, ...), the
 * double-span helper "simplified" away), so the first-fit hole ignores the
 * reserved tree. A fixed-IOVA map still goes through iopt_check_iova, which
 * refuses reserved ranges; only automatic placement is wrong. (A production
 * kernel has no CONFIG_IOMMUFD_TEST WARN_ON(iopt_check_iova()) after the
 * allocation, and neither does the reference.)
 *
 * Consequence for a user: with no ALLOW_IOVAS list, automatic IOVAs start at
 * PAGE_SIZE whatever is reserved there. Behind a domain whose aperture starts
 * above it (the mock: 16 MiB) the map is placed below the aperture and fails
 * (EINVAL from iommu_map) where the kernel succeeds. Inside the aperture the
 * area lands on a reserved region: a device's MSI window (SMMU's software MSI
 * page at 128 MiB, the x86 interrupt range at 0xfee00000) or a range the
 * caller reserved, so the IOAS maps user memory at IOVAs the platform routes
 * elsewhere (interrupt messages, or the MSI doorbell the kernel itself maps
 * there) — IOMMU_IOAS_IOVA_RANGES says the IOVA is unusable while an area
 * sits on it. Mapped before a domain is attached, the area makes the later
 * attach fail (EADDRINUSE, the aperture cannot be reserved over it).
 *
 * Applied as: IOMMU_IOAS_MAP and IOMMU_IOAS_COPY through copies of the
 * reference's map path (_map.ts, _copy.ts) whose iopt_map_pages allocates the
 * IOVA with the faulty walk. The type1 compat MAP_DMA is always fixed-IOVA.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation } from '../harness.ts';
import { allocIovaWith, ioasMapHandler, mapPagesWith } from './_map.ts';
import { copyHandler } from './_copy.ts';

/** iopt_alloc_iova with the single-tree walk. */
// THE FAULT: the holes of area_itree alone; reserved_itree is not walked.
const allocIovaAreasOnly = allocIovaWith({ usedTrees: (iopt) => [iopt.areas] });

/** iopt_map_pages over the faulty iopt_alloc_iova. */
const mapPages = mapPagesWith({ allocIova: allocIovaAreasOnly });

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('alloc-iova-skips-reserved', profile, {
    handlers: {
      IOMMU_IOAS_MAP: ioasMapHandler({ mapPages }),
      IOMMU_IOAS_COPY: copyHandler({ mapPages }),
    },
  });
}
