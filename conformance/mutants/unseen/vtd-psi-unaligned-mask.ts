/**
 * L1 — vtd-psi-unaligned-mask (drivers/iommu/intel/cache.c calculate_psi_aligned_address).
 *
 * A page-selective invalidation covers 2^am pages at an address aligned to
 * 2^am pages. The fault computes am = ceil(log2(npages)) and aligns the start
 * down, but drops the "start pfn not aligned to that size" case that grows the
 * mask until one naturally aligned block holds [start_pfn, end_pfn] (the bug
 * fixed upstream in 2024: "Fix aligned pages in calculate_psi_aligned_address").
 * An unmap range straddling a 2^am boundary leaves the tail pages' IOTLB
 * entries alive after IOMMU_IOAS_UNMAP returned.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { hwUnits, mutantImplementation, patchOwn } from '../harness.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('vtd-psi-unaligned-mask', profile, {
    machine: (m) =>
      hwUnits(m).forEach((hw) => {
        if (hw.vendor !== 'vtd') return;
        patchOwn(hw, 'intelFlushRange', () => (did: number, start: number, last: number, ih: number) => {
          const pfn = Math.floor(start / 4096);
          const pages = Math.floor(last / 4096) - pfn + 1;
          let aligned = 1;
          while (aligned < pages) aligned *= 2;
          const mask = Math.log2(aligned); // THE FAULT: no growth when pfn % aligned != 0
          if (mask > hw.mamv) {
            hw.vtdDsi(did);
            return;
          }
          const addr = Math.floor(start / 2 ** (12 + mask)) * 2 ** (12 + mask);
          hw.vtdPsi(did, addr, mask, ih);
        });
      }),
  });
}
