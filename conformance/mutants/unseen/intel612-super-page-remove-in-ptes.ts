/**
 * intel612-super-page-remove-in-ptes — drivers/iommu/intel/iommu.c
 * __domain_mapping() (6.12, the VT-d driver's own page table, reached from
 * intel_iommu_map_pages → intel_iommu_map for every iommu_map of a VT-d
 * domain: IOMMU_IOAS_MAP / _COPY, VFIO_IOMMU_MAP_DMA, and the fill of a
 * domain joining an IOAS).
 *
 * The 6.12 VT-d table never frees a last-level table whose leaves were
 * unmapped unless the unmap covered the table's whole 2 MiB: after a small
 * area is unmapped its 2 MiB slot keeps an empty table. Before a run of
 * superpages is written, __domain_mapping() has switch_to_super_page() free
 * the tables in the way, over the PFN range the run covers up to the end of
 * the current table page:
 *
 *     if (largepage_lvl > 1) {
 *             unsigned long end_pfn;
 *             unsigned long pages_to_remove;
 *
 *             pteval |= DMA_PTE_LARGE_PAGE;
 *             pages_to_remove = min_t(unsigned long,
 *                                     round_down(nr_pages, lvl_pages),
 *                                     nr_pte_to_next_page(pte) * lvl_pages);
 *             end_pfn = iov_pfn + pages_to_remove - 1;
 *             switch_to_super_page(domain, iov_pfn, end_pfn, largepage_lvl);
 *     }
 *
 * and the superpage PTEs are then installed with
 * try_cmpxchg64_local(&pte->val, &tmp, pteval) against tmp = 0, which keeps (and
 * only WARNs about, "DMA PTE for vPFN ... already set") an entry that is
 * still present.
 *
 * THE FAULT: pages_to_remove = min(round_down(nr_pages, lvl_pages),
 * nr_pte_to_next_page(pte)) — the PTEs left in the table page taken as a
 * page count (the `* lvl_pages` lost; the helper's name says "pte", the
 * comparison is in pages). For a run that starts at slot 0 of its table page
 * the range covers only the first superpage; for any other start it is not
 * superpage-aligned and switch_to_super_page() WARNs and frees nothing.
 *
 * Consequence, over several commands: a 2 MiB-aligned, physically
 * contiguous area (a huge-page-backed buffer) mapped over a 2 MiB region in
 * which an earlier area was mapped and unmapped gets no superpage there —
 * the stale empty table stays linked and the superpage PTE is dropped on the
 * floor — while intel_iommu_map() reports the whole size mapped. The IOAS
 * maps the area, its pages are pinned and charged, IOMMU_IOAS_UNMAP later
 * unmaps it "successfully", but in between the device faults on every IOVA
 * of that 2 MiB and iommu_iova_to_phys() finds nothing there.
 *
 * 6.12 only: 7.3's VT-d domains use the generic_pt page table.
 *
 * Applied as: on every 6.12 VT-d table (intel-612 driver), __domain_mapping
 * hands switch_to_super_page the range iov_pfn .. iov_pfn +
 * min(round_down(nr_pages, lvl_pages), nr_pte_to_next_page(pte)) - 1.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import type { IoPageTable } from '../../../impl/pagetable/table.ts';
import type { PtFormat } from '../../../impl/pagetable/fmt/types.ts';
import { EINVAL, ENOMEM } from '../../../impl/lib/errno.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';

type DomainMapping = (ivPfn: number, phPfn: number, nrPages: number, prot: number) => number;

/** The IntelLegacyTable internals __domain_mapping uses. */
interface IntelTable {
  domainMapping: DomainMapping;
  switchToSuperPage(startPfn: number, endPfn: number, level: number): void;
  pfnSupported(pfn: number): boolean;
  setProt(prot: number): number;
  largepageCaps(ivPfn: number, phPfn: number, pages: number): number;
  pfnToPte(pfn: number, target: number, alloc: boolean): number;
  flush(pa: number, bytes: number): void;
  readonly u32: Uint32Array;
  readonly fmt: PtFormat;
  readonly itemLg2: Int32Array;
  readonly attrs: Int32Array;
}

function patchTable(pt: IoPageTable): void {
  const t = pt as unknown as IntelTable;
  patchOwn(t, 'domainMapping', (): DomainMapping => (ivPfn, phPfn, nrPages, prot) => {
    if (!t.pfnSupported(ivPfn + nrPages - 1)) return -EINVAL;
    if ((prot & 3) === 0) return -EINVAL; // (prot & (DMA_PTE_READ | DMA_PTE_WRITE)) == 0
    const rc = t.setProt(prot);
    if (rc !== 0) return rc;
    const u = t.u32;
    let w = -1;
    let level = 0;
    let lvlPages = 1;
    let first = -1;
    while (nrPages > 0) {
      if (w < 0) {
        level = t.largepageCaps(ivPfn, phPfn, nrPages);
        w = t.pfnToPte(ivPfn, level, true);
        if (w < 0) return -ENOMEM;
        first = w;
        lvlPages = 2 ** (9 * level);
        if (level > 0) {
          const nrPteToNextPage = 512 - ((w >>> 1) & 511);
          // THE FAULT: min(round_down(nr_pages, lvl_pages), nr_pte_to_next_page(pte)) — PTEs, not pages.
          const remove = Math.min(Math.floor(nrPages / lvlPages) * lvlPages, nrPteToNextPage);
          t.switchToSuperPage(ivPfn, ivPfn + remove - 1, level);
        }
      }
      // try_cmpxchg64_local(&pte->val, 0, pteval): a present entry is kept (WARN "already set").
      if ((u[w] as number) === 0 && (u[w + 1] as number) === 0) {
        t.fmt.writeLeaves(u, w, 1, phPfn * 4096, t.itemLg2[level] as number, t.itemLg2[level] as number, level, t.attrs[0] as number, t.attrs[1] as number);
      }
      nrPages -= lvlPages;
      ivPfn += lvlPages;
      phPfn += lvlPages;
      w += 2;
      if (nrPages === 0 || ((w >>> 1) & 511) === 0 || (level > 0 && nrPages < lvlPages)) {
        t.flush(first * 4, (w - first) * 4);
        w = -1;
      }
    }
    return 0;
  });
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('intel612-super-page-remove-in-ptes', profile, {
    domain: (d) => {
      const pt = d.hw?.pt;
      if (pt && pt.g.driver === 'intel-612') patchTable(pt);
    },
  });
}
