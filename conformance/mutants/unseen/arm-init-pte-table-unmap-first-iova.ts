/**
 * arm-init-pte-table-unmap-first-iova — drivers/iommu/io-pgtable-arm.c
 * arm_lpae_init_pte() (both profiles: the SMMUv3 stage-1 domains of 6.12 and
 * 7.3 are io-pgtable-arm tables), reached from arm_lpae_map_pages →
 * __arm_lpae_map for every iommu_map of an SMMUv3 domain: IOMMU_IOAS_MAP /
 * _COPY, VFIO_IOMMU_MAP_DMA, and the fill of a domain joining an IOAS.
 *
 * io-pgtable-arm never frees a last-level table when the leaves in it are
 * unmapped: after a 4 KiB area is unmapped, its 2 MiB slot keeps an empty
 * table. A later map that puts 2 MiB blocks over that slot meets the table in
 * arm_lpae_init_pte(), which writes `num_entries` blocks at once (as many as
 * the iommu core's pgcount and the table page allow) and first unmaps (and
 * frees) any table in the way of each of them:
 *
 *     } else if (iopte_type(ptep[i]) == ARM_LPAE_PTE_TYPE_TABLE) {
 *             arm_lpae_iopte *tblp;
 *             size_t sz = ARM_LPAE_BLOCK_SIZE(lvl, data);
 *
 *             tblp = ptep - ARM_LPAE_LVL_IDX(iova, lvl, data);
 *             if (__arm_lpae_unmap(data, NULL, iova + i * sz, sz, 1,
 *                                  lvl, tblp) != sz) {
 *                     WARN_ON(1);
 *                     return -EINVAL;
 *             }
 *     }
 *
 * THE FAULT: the table is unmapped at `iova` — the start of the run — instead
 * of `iova + i * sz` (the per-entry offset lost when the single-entry
 * arm_lpae_init_pte was converted to map_pages' num_entries). For i == 0 it
 * is the same call. For a table in any later slot of the run,
 * __arm_lpae_unmap() looks at the first slot instead: it is empty (or its own
 * table was just freed at i == 0), so it WARNs and returns 0, and
 * arm_lpae_init_pte() fails the whole map_pages call with -EINVAL, with the
 * table it should have freed still in place.
 *
 * Consequence, over several commands: once any small area has been mapped
 * and unmapped in a 2 MiB region of an SMMUv3 domain, every later map that
 * covers that region with the second (or a later) block of a run of 2 MiB
 * blocks fails: IOMMU_IOAS_MAP (and VFIO_IOMMU_MAP_DMA, IOMMU_IOAS_COPY)
 * answers EINVAL for a valid, free, aligned range (iommu_map unwinds what the
 * earlier chunks of the call mapped, iommufd unpins the pages), for as long
 * as the domain lives, since nothing else frees the table. A domain that
 * joins the IOAS later (another device's auto HWPT) is filled fresh and maps
 * the same range fine, so whether a map of the IOAS works depends on the
 * unmap history of one of its domains.
 *
 * Applied as: on every io-pgtable-arm table (both profiles), arm_lpae_init_pte
 * unmaps a table in the way of entry i at the run's first IOVA.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import type { IoPageTable } from '../../../impl/pagetable/table.ts';
import { PT_ENTRY_OA, PT_ENTRY_TABLE, type PtFormat } from '../../../impl/pagetable/fmt/types.ts';
import { EEXIST, EINVAL } from '../../../impl/lib/errno.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';

type InitPte = (iova: number, paddr: number, level: number, num: number, w: number) => number;

/** The ArmLpaeTable internals arm_lpae_init_pte uses. */
interface ArmTable {
  initPte: InitPte;
  dropTable(w: number, level: number, va: number): void;
  flush(pa: number, bytes: number): void;
  mappedBytes: number;
  readonly u32: Uint32Array;
  readonly fmt: PtFormat;
  readonly itemSize: Float64Array;
  readonly itemLg2: Int32Array;
  readonly attrs: Int32Array;
}

function patchTable(pt: IoPageTable): void {
  const t = pt as unknown as ArmTable;
  patchOwn(t, 'initPte', (): InitPte => (iova, paddr, level, num, w) => {
    const u = t.u32;
    const f = t.fmt;
    for (let i = 0; i < num; i++) {
      const lo = u[w + 2 * i] as number;
      const hi = u[w + 2 * i + 1] as number;
      if (lo === 0 && hi === 0) continue;
      const type = f.entryType(lo, hi, level);
      if (type === PT_ENTRY_OA) return -EEXIST; // we require an unmap first
      if (type === PT_ENTRY_TABLE) {
        // THE FAULT: __arm_lpae_unmap(data, NULL, iova, sz, 1, lvl, tblp) — not iova + i * sz:
        // the unmap looks at the run's first slot, whatever slot i holds.
        const l0 = u[w] as number;
        const h0 = u[w + 1] as number;
        if (l0 === 0 && h0 === 0) return -EINVAL; // WARN_ON(!pte): 0 != sz → WARN_ON(1), -EINVAL
        if (f.entryType(l0, h0, level) === PT_ENTRY_TABLE) {
          t.dropTable(w, level, iova);
        } else {
          u[w] = 0;
          u[w + 1] = 0;
          t.flush(w * 4, 8);
          t.mappedBytes -= t.itemSize[level] as number;
        }
      }
    }
    f.writeLeaves(u, w, num, paddr, t.itemLg2[level] as number, t.itemLg2[level] as number, level, t.attrs[0] as number, t.attrs[1] as number);
    t.flush(w * 4, num * 8);
    return 0;
  });
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('arm-init-pte-table-unmap-first-iova', profile, {
    domain: (d) => {
      const pt = d.hw?.pt;
      if (pt && pt.g.driver === 'io-pgtable-arm') patchTable(pt);
    },
  });
}
