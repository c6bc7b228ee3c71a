/**
 * R32-B1 — intel612-map-pte-past-table-page (drivers/iommu/intel/iommu.c
 * __domain_mapping(), reached from intel_iommu_map_pages() for every map of a
 * 6.12 VT-d paging domain; 7.3 VT-d maps through generic_pt).
 *
 * __domain_mapping() looks a PTE up once (pfn_to_dma_pte) and then writes the
 * following PTEs by incrementing the pointer. It must look the next one up
 * again when the pointer reaches the first PTE of the next 4 KiB table page:
 * the next IOVA's PTE lives in another table (maybe not allocated yet), and
 * the 8 bytes after a table page belong to whatever page follows it
 * physically. The kernel's loop tail:
 *
 *     pte++;
 *     if (!nr_pages || first_pte_in_page(pte) ||
 *         (largepage_lvl > 1 && nr_pages < lvl_pages)) {
 *             domain_flush_cache(domain, first_pte,
 *                                (void *)pte - (void *)first_pte);
 *             pte = NULL;
 *     }
 *
 * THE FAULT drops the first_pte_in_page(pte) term (read as "only needed for
 * the cache flush"; the domains here are coherent):
 *
 *     if (!nr_pages || (largepage_lvl > 1 && nr_pages < lvl_pages)) {
 *
 * so a run of 4 KiB pages that crosses a 2 MiB IOVA boundary keeps writing
 * PTEs past the end of the leaf table, into the next physical page, with
 * try_cmpxchg64_local() (a PTE whose slot there is not zero is kept, WARN).
 *
 * When it shows: only a single map call whose physically contiguous run
 * crosses a 2 MiB IOVA boundary while the IOVA and the physical address are
 * not equally offset in 2 MiB (else iommu_pgsize() stops the 4 KiB count at
 * the boundary, to try a superpage there). iommufd hands the driver each
 * physically contiguous run of an area in one iommu_map(): two-page runs are
 * common, and a huge-page buffer mapped at an IOVA not congruent with it
 * gives long ones. Then the IOVAs past the boundary are not mapped at all
 * (the next table is never walked to): the map succeeds, the IOAS says the
 * range is mapped and its pages are pinned, but every DMA there faults as
 * unmapped and iommu_iova_to_phys finds nothing; meanwhile the stray PTEs
 * land in the page after the table — often another table of the same domain
 * (table pages come from the same free list), where they become bogus table
 * pointers into user pages, or a user page, whose bytes change under the
 * process.
 *
 * Applied as: every 6.12 VT-d paging domain's table maps through a copy of
 * the reference's IntelLegacyTable.domainMapping with that term removed.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import type { IoPageTable } from '../../../impl/pagetable/table.ts';
import type { PtFormat } from '../../../impl/pagetable/fmt/types.ts';
import { ENOMEM, EINVAL } from '../../../impl/lib/errno.ts';
import { POW2 } from '../../../impl/pagetable/pgsize.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';

/** The IntelLegacyTable internals __domain_mapping uses (private there, plain at run time). */
interface IntelTable {
  readonly u32: Uint32Array;
  readonly fmt: PtFormat;
  readonly attrs: Int32Array;
  readonly itemLg2: Int32Array;
  setProt(prot: number): number;
  pfnSupported(pfn: number): boolean;
  largepageCaps(ivPfn: number, phPfn: number, pages: number): number;
  pfnToPte(pfn: number, target: number, alloc: boolean): number;
  switchToSuperPage(startPfn: number, endPfn: number, level: number): void;
  flush(pa: number, bytes: number): void;
  domainMapping(ivPfn: number, phPfn: number, nrPages: number, prot: number): number;
}

function patchDomainMapping(pt: IoPageTable): void {
  if (pt.g.driver !== 'intel-612') return;
  const t = pt as unknown as IntelTable;
  patchOwn(t, 'domainMapping', () => (ivPfn: number, phPfn: number, nrPages: number, prot: number): number => {
    if (!t.pfnSupported(ivPfn + nrPages - 1)) return -EINVAL;
    if ((prot & 3) === 0) return -EINVAL;
    const rc = t.setProt(prot);
    if (rc !== 0) return rc;
    const u = t.u32;
    const f = t.fmt;
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
        lvlPages = POW2[9 * level] as number;
        if (level > 0) {
          const toNextPage = 512 - ((w >>> 1) & 511);
          const remove = Math.min(Math.floor(nrPages / lvlPages) * lvlPages, toNextPage * lvlPages);
          t.switchToSuperPage(ivPfn, ivPfn + remove - 1, level);
        }
      }
      if ((u[w] as number) === 0 && (u[w + 1] as number) === 0) {
        f.writeLeaves(u, w, 1, phPfn * 4096, t.itemLg2[level] as number, t.itemLg2[level] as number, level, t.attrs[0] as number, t.attrs[1] as number);
      }
      nrPages -= lvlPages;
      ivPfn += lvlPages;
      phPfn += lvlPages;
      w += 2;
      // THE FAULT: no `first_pte_in_page(pte)` term — the walk is not redone at a table page's end.
      if (nrPages === 0 || (level > 0 && nrPages < lvlPages)) {
        t.flush(first * 4, (w - first) * 4);
        w = -1;
      }
    }
    return 0;
  });
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('intel612-map-pte-past-table-page', profile, {
    domain: (d) => {
      const pt = d.hw?.pt;
      if (pt) patchDomainMapping(pt);
    },
  });
}
