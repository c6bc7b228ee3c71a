/**
 * R42-B2 — amd612-unmap-clears-first-replica (drivers/iommu/amd/io_pgtable.c
 * iommu_v1_unmap_pages(), 6.12 only: 7.3 AMD v1 tables are generic_pt's).
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
 *             iova = (iova & ~(unmap_size - 1)) + unmap_size;
 *             unmapped += unmap_size;
 *     }
 *
 * THE FAULT forgets the replicas of a NextLevel=7 page (8K, 16K, ... 1M, 4M ...):
 *
 *                     pte[0] = 0ULL;
 *
 * The call still reports unmap_size bytes unmapped, so iommufd unpins and frees
 * the pages, but every replica after the first keeps translating: the device can
 * still read and write the (now unpinned) memory at iova + 4K .. iova + size - 4K
 * after IOMMU_IOAS_UNMAP (or a HWPT destroy's unfill) of a mapping that the core
 * mapped with a non-natural power-of-two page (any 8K-aligned run on amd0).
 *
 * Applied as: each 6.12 AMD v1 table's unmapPages is the reference's loop with
 * only the first entry of each leaf cleared.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { AMD_PR } from '../../../impl/pagetable/fmt/amdv1.ts';
import { POW2 } from '../../../impl/pagetable/pgsize.ts';
import type { IotlbGather } from '../../../impl/pagetable/gather.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';

/** The AmdLegacyTable internals unmap_pages uses (private there, plain at run time). */
interface LegacyAmd {
  readonly u32: Uint32Array;
  mappedBytes: number;
  fetchLg2: number;
  gather: IotlbGather | null;
  fetchPte(iova: number): number;
  flush(pa: number, bytes: number): void;
  unmapPages(iova: number, pgLg2: number, pgcount: number): number;
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('amd612-unmap-clears-first-replica', profile, {
    domain: (d) => {
      if (profile !== '6.12') return;
      const pt = d.hw?.pt;
      if (!pt || pt.g.driver !== 'amd-612') return;
      const t = pt as unknown as LegacyAmd;
      patchOwn(t, 'unmapPages', () => (iova: number, pgLg2: number, pgcount: number): number => {
        const u = t.u32;
        const size = pgcount * (POW2[pgLg2] as number);
        let unmapped = 0;
        const start = iova;
        while (unmapped < size) {
          const w = t.fetchPte(iova);
          if (w < 0) break;
          const sz = POW2[t.fetchLg2] as number;
          const cnt = POW2[(t.fetchLg2 - 12) % 9] as number;
          // THE FAULT: only pte[0] is cleared, not the PAGE_SIZE_PTE_COUNT replicas.
          if ((u[w] as number) & AMD_PR) t.mappedBytes -= sz / cnt;
          u[w] = 0;
          u[w + 1] = 0;
          t.flush(w * 4, 8);
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
