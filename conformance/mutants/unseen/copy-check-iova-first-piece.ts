/**
 * copy-check-iova-first-piece (drivers/iommu/iommufd/io_pagetable.c
 * iopt_alloc_area_pages, fixed-IOVA branch, reached by IOMMU_IOAS_COPY with
 * IOMMU_IOAS_MAP_FIXED_IOVA).
 *
 * iopt_alloc_area_pages places the areas of a pages list (one element per
 * source area a COPY crosses) back to back from *dst_iova. With a fixed IOVA
 * the whole destination range must be checked first:
 *
 *     } else {
 *             rc = iopt_check_iova(iopt, *dst_iova, length);
 *             if (rc)
 *                     goto out_unlock;
 *     }
 *
 * (aligned, no wrap, no reserved range, no existing area in
 * [*dst_iova, *dst_iova + length - 1]). The fault checks the span of the
 * first element only — the same list_first_entry() the IOPT_ALLOC_IOVA
 * branch just above uses to guess the alignment, with its elm->length
 * instead of the total `length`:
 *
 *             elm = list_first_entry(pages_list, struct iopt_pages_list, next);
 *             rc = iopt_check_iova(iopt, *dst_iova, elm->length);
 *
 * For a MAP (one element) and a COPY of a single source area nothing
 * changes. A COPY whose source range spans several areas is checked only
 * for its first piece: the following pieces are inserted over reserved IOVA
 * (a device's MSI window or other reserved region, a domain's space outside
 * its aperture, IOMMU_TEST_OP_ADD_RESERVED ranges) and over existing areas
 * of the destination, which iopt_insert_area does not check again.
 *
 * Consequence: a user makes the destination IOAS map its memory at IOVAs the
 * kernel promised to keep unmapped (the IOAS_IOVA_RANGES holes no longer
 * describe what is mapped); with no domain attached the overlapping areas
 * corrupt the area tree (two areas claim one IOVA), and a domain attached
 * later maps whichever it fills first or fails to attach. With a domain whose
 * page table reaches past the aperture the second piece is really mapped
 * there, where the device's DMA must never be translated.
 *
 * Applied to IOMMU_IOAS_COPY through a copy of iommufd_ioas_copy (_copy.ts)
 * and of iopt_map_pages / iopt_alloc_area_pages as the reference has them.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation } from '../harness.ts';
import { mapPagesWith } from './_map.ts';
import { copyHandler } from './_copy.ts';
import { ioptCheckIova } from '../../../impl/iommufd/io_pagetable.ts';

/** iopt_map_pages whose fixed destination is checked for the first piece only. */
const mapPages = mapPagesWith({
  // THE FAULT: elm = list_first_entry(pages_list); iopt_check_iova(iopt, *dst_iova, elm->length)
  checkIova: (iopt, iova, _length, list) => ioptCheckIova(iopt, iova, list[0]!.length),
});

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('copy-check-iova-first-piece', profile, {
    handlers: { IOMMU_IOAS_COPY: copyHandler({ mapPages }) },
  });
}
