/**
 * amd612-unmap-count-from-pgsize (drivers/iommu/amd/io_pgtable.c
 * iommu_v1_unmap_pages, 6.12: the AMD v1 table of the amd0 unit).
 *
 * The unmap loop looks up the leaf at each step and clears every entry that
 * leaf occupies — one for a page of a level's natural size, 2^n replicated
 * entries (NextLevel 7) for the sizes in between — the count being taken from
 * the size fetch_pte reports for the leaf it found:
 *
 *     while (unmapped < size) {
 *             pte = fetch_pte(pgtable, iova, &unmap_size);
 *             if (pte) {
 *                     int i, count;
 *
 *                     count = PAGE_SIZE_PTE_COUNT(unmap_size);
 *                     for (i = 0; i < count; i++)
 *                             pte[i] = 0ULL;
 *             } else {
 *                     return unmapped;
 *             }
 *
 *             iova = (iova & ~(unmap_size - 1)) + unmap_size;
 *             unmapped += unmap_size;
 *     }
 *
 * The fault computes the count from `pgsize`, the page size the iommu core
 * asked to unmap (a parameter of the same function, and what map_pages uses
 * for the same macro), instead of the leaf's `unmap_size`. The core picks
 * that size from the IOVA alignment alone, so it is larger than the leaves
 * whenever the range was mapped with smaller pages (physical pages not
 * aligned like the IOVA): each 4 KiB step then clears pgsize/4K entries from
 * where it stands, running past the end of the range by almost pgsize, and
 * for a step near the end of a table past the end of the table page.
 *
 * Observably, through a second object: unmapping area A (e.g. 64 KiB at a
 * 64 KiB aligned IOVA from pages the domain mapped 4 KiB at a time) also
 * removes the first pages of area B mapped right after it in the IOAS — B's
 * translations are gone (DMA faults once the IOTLB no longer holds them,
 * `translate` says unmapped) while the IOAS still maps B; the IOTLB is only
 * flushed for A. Near a table end the stores land in the next physical page:
 * another table, or user memory.
 *
 * Applied as: each 6.12 AMD table's unmap_pages step uses the faulty count.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import type { IotlbGather } from '../../../impl/pagetable/gather.ts';
import { AMD_PR } from '../../../impl/pagetable/fmt/amdv1.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';

/** The members of AmdLegacyTable the step uses (protected/private in TypeScript only). */
interface AmdInternals {
  u32: Uint32Array;
  mappedBytes: number;
  fetchLg2: number;
  gather: IotlbGather | null;
  fetchPte(iova: number): number;
  flush(pa: number, bytes: number): void;
  unmapPages(iova: number, pgLg2: number, pgcount: number): number;
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('amd612-unmap-count-from-pgsize', profile, {
    domain: (d) => {
      const pt = d.hw?.pt;
      if (!pt || pt.g.driver !== 'amd-612') return;
      const t = pt as unknown as AmdInternals;
      patchOwn(t, 'unmapPages', () => (iova: number, pgLg2: number, pgcount: number) => {
        const u = t.u32;
        const size = pgcount * 2 ** pgLg2;
        // THE FAULT: count = PAGE_SIZE_PTE_COUNT(pgsize), not PAGE_SIZE_PTE_COUNT(unmap_size).
        const count = 2 ** ((pgLg2 - 12) % 9);
        let unmapped = 0;
        const start = iova;
        while (unmapped < size) {
          const w = t.fetchPte(iova);
          if (w < 0) break;
          const sz = 2 ** t.fetchLg2;
          const leafCount = 2 ** ((t.fetchLg2 - 12) % 9);
          for (let i = 0; i < count; i++) {
            if ((u[w + 2 * i]! & AMD_PR) !== 0) t.mappedBytes -= sz / leafCount;
            u[w + 2 * i] = 0;
            u[w + 2 * i + 1] = 0;
          }
          t.flush(w * 4, count * 8);
          iova = Math.floor(iova / sz) * sz + sz;
          unmapped += sz;
        }
        if (unmapped > 0 && t.gather !== null) {
          t.gather.addRange(start, unmapped);
          t.gather.addLeaf(0, 12);
        }
        return unmapped;
      });
    },
  });
}
