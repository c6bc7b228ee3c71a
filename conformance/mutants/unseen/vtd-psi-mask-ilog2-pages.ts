/**
 * R41-B1 — vtd-psi-mask-ilog2-pages (drivers/iommu/intel/cache.c
 * calculate_psi_aligned_address(), reached from cache_tag_flush_range() by
 * intel_iommu_tlb_sync() after every unmap of a VT-d paging domain; both
 * profiles: 6.12 and 7.3 share this code).
 *
 * A page-selective invalidation (PSI) covers 2^mask naturally aligned pages,
 * so the page count is rounded UP to a power of two:
 *
 *     unsigned long pages = aligned_nrpages(start, end - start + 1);
 *     unsigned long aligned_pages = __roundup_pow_of_two(pages);
 *     unsigned long bitmask = aligned_pages - 1;
 *     unsigned long mask = ilog2(aligned_pages);
 *     unsigned long pfn = IOVA_PFN(start);
 *
 *     if (unlikely(bitmask & pfn)) {
 *             ... grow mask until one block holds [pfn, end_pfn] ...
 *     }
 *
 * THE FAULT takes the order of the page count itself (ilog2 rounds down):
 *
 *     unsigned long mask = ilog2(pages);
 *
 * When the range starts on a boundary of its rounded-up size (the common
 * case: an IOAS area at an aligned IOVA) and its page count is not a power of
 * two, the PSI covers only the largest power of two below the count: e.g. an
 * unmap of 3 pages at 0x1000000 invalidates 2 pages. The IOTLB entries of the
 * tail pages survive IOMMU_IOAS_UNMAP: a device that used them still reads and
 * writes the pages iommufd has unpinned and given back. A power-of-two range,
 * or an unaligned one (its mask is recomputed from pfn / end_pfn), is flushed
 * as before.
 *
 * Applied as: each VT-d hardware unit's intelFlushRange (the model of
 * calculate_psi_aligned_address + qi_flush_iotlb) is a copy of the
 * reference's with the mask taken from floor(log2(pages)).
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { hwUnits, mutantImplementation, patchOwn } from '../harness.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('vtd-psi-mask-ilog2-pages', profile, {
    machine: (m) => {
      for (const hw of hwUnits(m)) {
        if (hw.vendor !== 'vtd') continue;
        patchOwn(hw, 'intelFlushRange', () => (did: number, start: number, last: number, ih: number): void => {
          const pfn = Math.floor(start / 4096);
          const pages = Math.floor(last / 4096) - pfn + 1;
          let aligned = 1;
          while (aligned < pages) aligned *= 2;
          // THE FAULT: mask = ilog2(pages), not ilog2(aligned_pages).
          let mask = Math.floor(Math.log2(pages));
          if (pfn % aligned !== 0) {
            const endPfn = pfn + pages - 1;
            mask = 0;
            while (Math.floor(pfn / 2 ** mask) !== Math.floor(endPfn / 2 ** mask)) mask++;
            if (mask > 52) mask = 64;
          }
          if (mask > hw.mamv) {
            hw.vtdDsi(did);
            return;
          }
          const addr = Math.floor(start / 2 ** (12 + mask)) * 2 ** (12 + mask);
          hw.vtdPsi(did, addr, mask, ih);
        });
      }
    },
  });
}
