/**
 * amd612-fetch-pte-pde-leaf-as-table (6.12 drivers/iommu/amd/io_pgtable.c
 * fetch_pte, reached from iommu_v1_unmap_pages for every unmap of a 6.12 AMD
 * v1 domain).
 *
 * An AMD v1 leaf above level 1 comes in two encodings: a page of exactly the
 * level's size is a PTE whose NextLevel field is 0 (PAGE_MODE_NONE: 2 MiB at
 * level 1, 1 GiB at level 2), any other size is a run of replicated PTEs
 * with NextLevel 7 (PAGE_MODE_7_LEVEL). fetch_pte stops its walk at either:
 *
 *         while (level > 0) {
 *                 if (!IOMMU_PTE_PRESENT(*pte))
 *                         return NULL;
 *
 *                 if (PM_PTE_LEVEL(*pte) == PAGE_MODE_7_LEVEL ||
 *                     PM_PTE_LEVEL(*pte) == PAGE_MODE_NONE)
 *                         break;
 *
 *                 if (PM_PTE_LEVEL(*pte) != level)
 *                         return NULL;
 *                 ...
 *
 * The fault keeps only the "Large PTE" test for NextLevel 7 (the comment
 * says large PTEs, and NextLevel 0 reads as "not a table" only once one
 * remembers iommu_v1_map_pages writes natural-size pages without a level
 * encoding). A present level-1 or higher entry with NextLevel 0 then falls through to
 * the "No level skipping support yet" test and fetch_pte returns NULL, as if
 * nothing were mapped there.
 *
 * What changes: a mapping that used a natural 2 MiB page — any IOAS area
 * covering a 2 MiB-aligned, physically contiguous 2 MiB stretch whose next
 * 4 MiB-aligned neighbourhood is not usable (a hugepage-aligned buffer mapped
 * at a 2 MiB-but-not-4 MiB-aligned IOVA, or exactly 2 MiB long) — can no
 * longer be unmapped: iommu_v1_unmap_pages returns 0 at that leaf, the iommu
 * core's __iommu_unmap stops there, and nothing of the area from that leaf on
 * is cleared or flushed. iommufd only WARNs (iommu_unmap_nofail) and unpins,
 * so after IOMMU_IOAS_UNMAP (or the IOAS/HWPT teardown) the device still
 * reaches the no-longer-pinned pages, and the stale IOTLB entries stay. The
 * mapping is fine while it lives; the damage shows only after the unmap.
 * 4 KiB pages and replicated (NextLevel 7) sizes unmap correctly.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { POW2 } from '../../../impl/pagetable/pgsize.ts';
import type { PtFormat } from '../../../impl/pagetable/fmt/types.ts';
import { AMD_NL_SHIFT, AMD_PR } from '../../../impl/pagetable/fmt/amdv1.ts';
import type { IoPageTable } from '../../../impl/pagetable/table.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';

const NL_SIZE = 7;

/** The AmdLegacyTable internals fetch_pte uses (private there, plain at run time). */
interface AmdTable {
  readonly u32: Uint32Array;
  readonly fmt: PtFormat;
  readonly topLevel: number;
  readonly root: number;
  fetchLg2: number;
  index(va: number, level: number): number;
  tablePa(lo: number, hi: number): number;
  fitsMode(lastLo: number, mode: number): boolean;
  fetchPte(iova: number): number;
}

/** fetch_pte without the PAGE_MODE_NONE stop. */
function fetchPte(t: AmdTable, iova: number): number {
  const u = t.u32;
  const mode = t.topLevel + 1;
  if (!t.fitsMode(iova, mode)) {
    t.fetchLg2 = -1;
    return -1;
  }
  let l = t.topLevel;
  let table = t.root;
  let w = (table >>> 2) + 2 * t.index(iova, l);
  t.fetchLg2 = 12 + 9 * l;
  while (l > 0) {
    const lo = u[w] as number;
    if (!(lo & AMD_PR)) return -1;
    const nl = (lo >>> AMD_NL_SHIFT) & 7;
    // THE FAULT: `|| PM_PTE_LEVEL(*pte) == PAGE_MODE_NONE` is gone.
    if (nl === NL_SIZE) break;
    if (nl !== l) return -1; // "No level skipping support yet"
    table = t.tablePa(lo, u[w + 1] as number);
    l--;
    w = (table >>> 2) + 2 * t.index(iova, l);
    t.fetchLg2 = 12 + 9 * l;
  }
  const lo = u[w] as number;
  if (((lo >>> AMD_NL_SHIFT) & 7) === NL_SIZE) {
    const hi = u[w + 1] as number;
    const runLg2 = t.fmt.contigLg2(lo, hi, l);
    t.fetchLg2 = 12 + 9 * l + runLg2;
    const cnt = POW2[runLg2] as number;
    w -= 2 * (((w - (table >>> 2)) >>> 1) % cnt);
  }
  return w;
}

function patchTable(pt: IoPageTable): void {
  if (pt.g.driver !== 'amd-612') return;
  const t = pt as unknown as AmdTable;
  patchOwn(t, 'fetchPte', () => (iova: number) => fetchPte(t, iova));
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('amd612-fetch-pte-pde-leaf-as-table', profile, {
    domain: (d) => {
      const pt = d.hw?.pt;
      if (pt) patchTable(pt);
    },
  });
}
