/**
 * amd612-map-present-pde-eexist — drivers/iommu/amd/io_pgtable.c (6.12)
 * iommu_v1_map_pages(), the AMD v1 page table behind every iommu_map of an
 * amd0 paging domain: IOMMU_IOAS_MAP / _COPY, VFIO_IOMMU_MAP_DMA and the
 * fill of a domain joining an IOAS.
 *
 * The 6.12 v1 table never frees a lower table on unmap
 * (iommu_v1_unmap_pages only clears the leaves it finds), so a PDE to an
 * empty table stays wherever small pages were once mapped. When a later map
 * puts a large page (2 MiB, or a NextLevel=7 run) in such a slot, the PTE
 * alloc_pte() returns is that PDE, and iommu_v1_map_pages clears it and frees
 * the table below before writing the new leaf:
 *
 *     pte   = alloc_pte(pgtable, iova, pgsize, NULL, gfp, &updated);
 *     ret = -ENOMEM;
 *     if (!pte)
 *             goto out;
 *
 *     for (i = 0; i < count; ++i)
 *             free_clear_pte(&pte[i], pte[i], &freelist);
 *
 *     if (!list_empty(&freelist))
 *             updated = true;
 *
 * (the domain flush at `out:` then covers the freed tables).
 *
 * THE FAULT: a "do not silently replace a mapping" hardening — make the v1
 * table refuse to overwrite a present entry, as io-pgtable-arm does
 * (arm_lpae_init_pte: WARN, -EEXIST) — tests IOMMU_PTE_PRESENT():
 *
 *     for (i = 0; i < count; ++i) {
 *             if (IOMMU_PTE_PRESENT(pte[i])) {
 *                     ret = -EEXIST;
 *                     goto out;
 *             }
 *     }
 *
 * but a PDE is "present" too (PR set, NextLevel != 0): only a leaf means the
 * IOVA is in use; an empty lower table is exactly what free_clear_pte() was
 * there to reclaim.
 *
 * Why it needs several commands: nothing goes wrong while a region is used
 * with the same page size. After a small area was mapped and unmapped in a
 * 2 MiB region of the domain (or in the 4 MiB of a NextLevel=7 run), the PDE
 * stays for the life of the domain, and every later map that would put a
 * large page there — a hugeAligned (THP-backed) buffer mapped 2 MiB-aligned
 * — fails with EEXIST for a range the IOAS does not map at all; iommu_map
 * unwinds what the call mapped before and iommufd unpins. A domain made later
 * for another device of the IOAS (filled fresh, with no stale PDE) maps the
 * same range fine, so whether a map works depends on one domain's unmap
 * history.
 *
 * Applied as (6.12 only, every AMD v1 paging domain): iommu_v1_map_pages
 * fails with -EEXIST, before writing anything for that page, when an entry
 * the page would occupy is present, leaf or PDE.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { EEXIST } from '../../../impl/lib/errno.ts';
import { AMD_PR } from '../../../impl/pagetable/fmt/amdv1.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';

/** The 6.12 AMD v1 table's map_pages and alloc_pte (impl/pagetable/amd612.ts AmdLegacyTable). */
interface AmdV1Internals {
  readonly u32: Uint32Array;
  mapPages(iova: number, paddr: number, pgLg2: number, pgcount: number, prot: number): number;
  allocPte(iova: number, pgLg2: number, level: number): number;
}

/** Thrown out of alloc_pte's caller to leave iommu_v1_map_pages at `goto out` with -EEXIST. */
class PresentPte extends Error {}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('amd612-map-present-pde-eexist', profile, {
    domain: (d) => {
      if (profile !== '6.12' || d.owner.name !== 'amd') return;
      const pt = d.hw?.pt;
      if (!pt || pt.g.driver !== 'amd-612') return;
      const t = pt as unknown as AmdV1Internals;
      patchOwn(t, 'allocPte', (allocPte) => (iova, pgLg2, level) => {
        const w = allocPte(iova, pgLg2, level);
        if (w < 0) return w;
        // THE FAULT: IOMMU_PTE_PRESENT(pte[i]) refused, a PDE to an empty table included.
        const count = 2 ** ((pgLg2 - 12) % 9);
        for (let i = 0; i < count; i++) if ((t.u32[w + 2 * i] as number) & AMD_PR) throw new PresentPte();
        return w;
      });
      patchOwn(t, 'mapPages', (mapPages) => (iova, paddr, pgLg2, pgcount, prot) => {
        try {
          return mapPages(iova, paddr, pgLg2, pgcount, prot);
        } catch (e) {
          if (e instanceof PresentPte) return -EEXIST; // goto out: pages mapped before this one stay in *mapped
          throw e;
        }
      });
    },
  });
}
