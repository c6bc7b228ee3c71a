/**
 * H8.3 — vtd-psi-mask-clamped-to-mamv (drivers/iommu/intel/cache.c
 * cache_tag_flush_iotlb, after calculate_psi_aligned_address).
 *
 * A page-selective IOTLB invalidation covers 2^AM pages from an address
 * aligned to that size; calculate_psi_aligned_address grows AM until one
 * naturally aligned block holds the whole range. The hardware accepts AM
 * only up to CAP.MAMV, so the driver falls back to a domain-selective flush
 * when the mask is too large:
 *     if (!cap_pgsel_inv(iommu->cap) ||
 *         mask > cap_max_amask_val(iommu->cap) || pages == -1) {
 *             addr = 0; mask = 0; ih = 0;
 *             type = DMA_TLB_DSI_FLUSH;
 *     }
 * The fault "avoids the DSI hammer" by clamping the mask to MAMV instead
 * (mask = min(mask, cap_max_amask_val)) and keeping the address aligned to
 * the clamped size: the PSI then covers only the 2^MAMV-page block (1 GiB
 * with MAMV 18) that holds the range's start.
 *
 * Consequence: an unmap whose range needs a larger block — one longer than
 * 1 GiB, or a short one that straddles a 1 GiB boundary (its aligned block
 * grows to 2 GiB or more) — leaves every IOTLB (and paging-structure cache)
 * entry above the first 1 GiB block in place: after IOMMU_IOAS_UNMAP the
 * device still reaches the unmapped pages, which iommufd has unpinned and
 * the process may have freed.
 *
 * Applied as: each VT-d unit's range flush clamps the PSI mask to MAMV
 * instead of falling back to a domain-selective invalidation.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { hwUnits, mutantImplementation, patchOwn } from '../harness.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('vtd-psi-mask-clamped-to-mamv', profile, {
    machine: (m) =>
      hwUnits(m).forEach((hw) => {
        if (hw.vendor !== 'vtd') return;
        patchOwn(hw, 'intelFlushRange', () => (did: number, start: number, last: number, ih: number) => {
          // calculate_psi_aligned_address, as the reference computes it
          const pfn = Math.floor(start / 4096);
          const pages = Math.floor(last / 4096) - pfn + 1;
          let aligned = 1;
          while (aligned < pages) aligned *= 2;
          let mask = Math.log2(aligned);
          if (pfn % aligned !== 0) {
            const endPfn = pfn + pages - 1;
            mask = 0;
            while (Math.floor(pfn / 2 ** mask) !== Math.floor(endPfn / 2 ** mask)) mask++;
          }
          // THE FAULT: clamp to CAP.MAMV instead of a domain-selective flush.
          if (mask > hw.mamv) mask = hw.mamv;
          const addr = Math.floor(start / 2 ** (12 + mask)) * 2 ** (12 + mask);
          hw.vtdPsi(did, addr, mask, ih);
        });
      }),
  });
}
