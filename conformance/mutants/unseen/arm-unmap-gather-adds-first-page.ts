/**
 * R32-B3 — arm-unmap-gather-adds-first-page (drivers/iommu/io-pgtable-arm.c
 * __arm_lpae_unmap(), reached from arm_smmu_unmap_pages() for every unmap of
 * an SMMUv3 paging domain, both profiles).
 *
 * At the level whose block size is the page size being unmapped,
 * __arm_lpae_unmap() clears up to pgcount entries and then records each
 * cleared page in the gather, so that arm_smmu_iotlb_sync() invalidates the
 * whole range in the SMMU's TLB:
 *
 *     __arm_lpae_clear_pte(ptep, &iop->cfg, i);
 *
 *     if (gather && !iommu_iotlb_gather_queued(gather))
 *             for (int j = 0; j < i; j++)
 *                     io_pgtable_tlb_add_page(iop, gather, iova + j * size, size);
 *
 *     return i * size;
 *
 * THE FAULT passes the first page's IOVA on every iteration (the loop index
 * only counts):
 *
 *             for (int j = 0; j < i; j++)
 *                     io_pgtable_tlb_add_page(iop, gather, iova, size);
 *
 * iommu_iotlb_gather_add_page() sees the same page each time (never
 * disjoint, same size), so the gather covers [iova, iova + size) only: the
 * sync sends CMD_TLBI_NH_VA (range) for one page. The IOTLB entries of the
 * other pages of a multi-page unmap survive: after IOMMU_IOAS_UNMAP (or the
 * destroy of an IOAS mapping, an auto domain's detach-free path aside) a
 * device that had used any page but the first of a run still reaches it —
 * the pages have been unpinned and given back, so the DMA lands in memory
 * the process no longer owns — and the unit's IOTLB still lists the
 * translations. Page tables freed whole on the way (a table entry met at the
 * page size's level) are flushed by io_pgtable_tlb_flush_walk() before they
 * go, so only leaves are affected. A single-page unmap is unaffected.
 *
 * Applied as: every io-pgtable-arm table (SMMUv3 stage 1 and the 7.3 stage-2
 * nesting parent) unmaps through a copy of the reference's
 * ArmLpaeTable.lpaeUnmap whose gather step records the first page only.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import type { IoPageTable } from '../../../impl/pagetable/table.ts';
import { PT_ENTRY_OA, type PtFormat } from '../../../impl/pagetable/fmt/types.ts';
import type { IotlbGather } from '../../../impl/pagetable/gather.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';

/** The ArmLpaeTable internals __arm_lpae_unmap uses (private there, plain at run time). */
interface ArmTable {
  readonly u32: Uint32Array;
  readonly fmt: PtFormat;
  readonly itemSize: Float64Array;
  readonly itemLg2: Int32Array;
  readonly ptesPerTable: number;
  readonly splitBlocks: boolean;
  readonly gather: IotlbGather | null;
  mappedBytes: number;
  index(va: number, level: number): number;
  tablePa(lo: number, hi: number): number;
  flush(pa: number, bytes: number): void;
  dropTable(w: number, level: number, va: number): void;
  splitBlockUnmap(iova: number, lg2: number, pgcount: number, level: number, wBlk: number): number;
  lpaeUnmap(iova: number, lg2: number, pgcount: number, level: number, table: number): number;
}

function patchLpaeUnmap(pt: IoPageTable): void {
  if (pt.g.driver !== 'io-pgtable-arm') return;
  const t = pt as unknown as ArmTable;
  patchOwn(t, 'lpaeUnmap', () => (iova: number, lg2: number, pgcount: number, level: number, table: number): number => {
    const u = t.u32;
    const f = t.fmt;
    for (;;) {
      const idx = t.index(iova, level);
      const w = (table >>> 2) + 2 * idx;
      const lo = u[w] as number;
      const hi = u[w + 1] as number;
      if (lo === 0 && hi === 0) return 0;
      const size = t.itemSize[level] as number;
      if (lg2 === (t.itemLg2[level] as number)) {
        const max = t.ptesPerTable - (idx & (t.ptesPerTable - 1));
        const num = pgcount < max ? pgcount : max;
        let i = 0;
        for (; i < num; i++) {
          const l = u[w + 2 * i] as number;
          const h = u[w + 2 * i + 1] as number;
          if (l === 0 && h === 0) break;
          if (f.entryType(l, h, level) !== PT_ENTRY_OA) t.dropTable(w + 2 * i, level, iova + i * size);
          else t.mappedBytes -= size;
        }
        u.fill(0, w, w + 2 * i);
        t.flush(w * 4, i * 8);
        const g = t.gather;
        if (g !== null && i > 0) {
          // THE FAULT: io_pgtable_tlb_add_page(iop, gather, iova, size) for every j — the first page only.
          for (let j = 0; j < i; j++) g.addRange(iova, size);
          g.addLeaf(level, lg2);
        }
        return i * size;
      }
      if (f.entryType(lo, hi, level) === PT_ENTRY_OA) {
        if (!t.splitBlocks) return 0;
        return t.splitBlockUnmap(iova, lg2, pgcount, level - 1, w);
      }
      table = t.tablePa(lo, hi);
      level--;
    }
  });
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('arm-unmap-gather-adds-first-page', profile, {
    domain: (d) => {
      const pt = d.hw?.pt;
      if (pt) patchLpaeUnmap(pt);
    },
  });
}
