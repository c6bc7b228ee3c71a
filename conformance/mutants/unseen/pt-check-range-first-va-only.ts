/**
 * pt-check-range-first-va-only (drivers/iommu/generic_pt/pt_iter.h
 * pt_check_range, as check_map_range in iommu_pt.h uses it to decide whether
 * a dynamic-top table must grow; 7.3 only — 6.12 has no generic_pt).
 *
 * A map range must lie inside the VA the current top level covers; if not,
 * check_map_range calls increase_top until it does (AMD v1 starts at level 2,
 * 512 GiB, and grows up to the unit's 48 bits):
 *     if (!fvalog2_div_eq(range->va, prefix, range->max_vasz_lg2) ||
 *         !fvalog2_div_eq(range->last_va, prefix, range->max_vasz_lg2))
 *             return -ERANGE;
 * THE FAULT: only the first IOVA is tested,
 *     if (!fvalog2_div_eq(range->va, prefix, range->max_vasz_lg2))
 *             return -ERANGE;
 * so a range that starts below the top's span and ends above it passes, the
 * top is not raised, and the walk indexes the top table with the index bits
 * of the current top only: the part of the range above the span wraps around
 * and is written at the bottom of the IOVA space.
 *
 * What a user sees: with an AMD device (amd0) on the IOAS, an IOMMU_IOAS_MAP
 * straddling 512 GiB succeeds but the pages above 512 GiB are mapped at IOVA
 * 0 and up: the device's DMA to those low IOVAs (which the IOAS may never
 * have mapped, or mapped to other memory — the aliasing write then fails with
 * EADDRINUSE only if a leaf is already there) reaches the user's pages, and
 * DMA to the IOVAs the user mapped above 512 GiB faults. Once some other map
 * has raised the top, the bug is invisible — only a domain still at its
 * initial top sees it.
 *
 * Applied as: every 7.3 generic_pt table with a dynamic top (AMD v1) checks
 * the first IOVA of a map range for growth, not the last.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation } from '../harness.ts';
import { growTopWith } from './_pt_grow.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('pt-check-range-first-va-only', profile, {
    // THE FAULT: pt_check_range tests range->va only, not range->last_va.
    domain: (d) => growTopWith(d, { decidingVa: (va) => va }),
  });
}
