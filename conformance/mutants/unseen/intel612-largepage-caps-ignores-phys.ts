/**
 * intel612-largepage-caps-ignores-phys (drivers/iommu/intel/iommu.c
 * hardware_largepage_caps(), called by __domain_mapping(); 6.12 only — 7.3
 * VT-d maps through generic_pt).
 *
 * __domain_mapping() asks hardware_largepage_caps() for the largest
 * superpage level the run allows. Both the IOVA pfn and the physical pfn
 * must be aligned to the superpage, so the kernel merges them:
 *
 *     static int hardware_largepage_caps(struct dmar_domain *domain,
 *                                        unsigned long iov_pfn,
 *                                        unsigned long phy_pfn,
 *                                        unsigned long pages)
 *     {
 *             int support, level = 1;
 *             unsigned long pfnmerge;
 *
 *             support = domain->iommu_superpage;
 *
 *             /* To use a large page, the virtual *and* physical addresses
 *                must be aligned to 2MiB/1GiB/etc. Lower bits set in either
 *                of them will mean we have to use smaller pages. So just
 *                merge them and check both at once. *\/
 *             pfnmerge = iov_pfn | phy_pfn;
 *
 *             while (support && !(pfnmerge & ~VTD_STRIDE_MASK)) {
 *                     pages >>= VTD_STRIDE_SHIFT;
 *                     if (!pages)
 *                             break;
 *                     pfnmerge >>= VTD_STRIDE_SHIFT;
 *                     level++;
 *                     support--;
 *             }
 *             return level;
 *     }
 *
 * THE FAULT: `pfnmerge = iov_pfn;` — the physical pfn is not merged in.
 *
 * The iommu core (iommu_pgsize) already picks 4 KiB pages for a run whose
 * IOVA and PA disagree modulo 2 MiB, but it hands the driver the whole run as
 * one map_pages(pgsize 4K, pgcount 512+) call; __domain_mapping() then
 * consults hardware_largepage_caps() itself and, with the fault, writes a
 * 2 MiB superpage at a 2 MiB-aligned IOVA whose physical address is not
 * 2 MiB aligned. The superpage PTE's address field drops the low bits
 * (VT-d reads bits 20:12 of a 2 MiB leaf as reserved/ignored): the device's
 * DMA to IOVA base+x lands at round_down(pa, 2M)+x — memory the user did not
 * map (another buffer, a page table, kernel memory): a confinement breach.
 * iommu_iova_to_phys() answers the same wrong page.
 *
 * What a user sees: IOMMU_IOAS_MAP of >= 2 MiB of physically contiguous
 * memory at a user VA not 2 MiB-congruent with its IOVA (e.g. a huge page
 * buffer mapped from offset 4 KiB to a 2 MiB-aligned IOVA) on an IOAS with a
 * 6.12 VT-d domain: DMA reads/writes land 4 KiB (the offset) early.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';

interface LegacyInternals {
  readonly superpage: number;
  largepageCaps(ivPfn: number, phPfn: number, pages: number): number;
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('intel612-largepage-caps-ignores-phys', profile, {
    domain: (d) => {
      if (profile !== '6.12') return;
      const pt = d.hw?.pt;
      if (!pt || pt.g.driver !== 'intel-612') return;
      const t = pt as unknown as LegacyInternals;
      patchOwn(t, 'largepageCaps', () => (ivPfn: number, _phPfn: number, pages: number): number => {
        let support = t.superpage;
        let level = 0;
        let iv = ivPfn; // THE FAULT: pfnmerge = iov_pfn (phy_pfn not merged in)
        while (support > 0 && iv % 512 === 0) {
          pages = Math.floor(pages / 512);
          if (pages === 0) break;
          iv /= 512;
          level++;
          support--;
        }
        return level;
      });
    },
  });
}
