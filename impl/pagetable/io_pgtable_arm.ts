/**
 * Arm LPAE stage 1 / stage 2 as drivers/iommu/io-pgtable-arm.c maps and
 * unmaps them, driven by the iommu core's map_pages/unmap_pages loop
 * (iommu_core.ts), over the armv8 format's entry operations (fmt/armv8.ts).
 *
 *   map_pages (arm_lpae_map_pages, __arm_lpae_map): walk to the level whose
 *     block size is the page size, allocating granule-sized tables; a leaf in
 *     the way is -EEXIST; arm_lpae_init_pte writes up to the end of the
 *     current table page, first unmapping (and freeing, whatever they hold)
 *     tables in the way, refusing with -EEXIST at a leaf.
 *   unmap_pages (__arm_lpae_unmap): at the level of the page size, clear up to
 *     pgcount entries, stopping at an empty one; tables there are freed whole
 *     (after a walk-cache flush). Reaching a larger leaf first: 7.3 refuses
 *     ("Unmap of a partial large IOPTE is not allowed", 0 bytes); 6.12 splits
 *     the block into a table of the next size minus the unmapped part
 *     (arm_lpae_split_blk_unmap).
 *   read_and_clear_dirty: stage 1 only; the walk records each dirty leaf at
 *     the walk's current address and stops with -EINVAL at an empty entry.
 */
import { EEXIST, EINVAL, ENOENT, ENOMEM, ERANGE } from '../lib/errno.ts';
import type { PhysMemory } from '../lib/physmem.ts';
import { ARM_DBM_HI } from './fmt/armv8.ts';
import { PT_ENTRY_OA, PT_ENTRY_TABLE } from './fmt/types.ts';
import { K_ARM_S2, type PtGeometry } from './format.ts';
import { IotlbGather } from './gather.ts';
import { iommuMapLoop, iommuUnmapLoop, type PagesDriver } from './iommu_core.ts';
import { IoPageTable, IOMMU_DIRTY_NO_CLEAR, type DirtyRecorder } from './table.ts';

/** iopte_prot: the attribute bits a split block hands to its pieces (ARM_LPAE_PTE_ATTR_MASK, 6.12). */
const ATTR_LO_MASK = 0x3ff << 2;
const ATTR_HI_MASK = (3 << 21) | ARM_DBM_HI; // XN | DBM

export class ArmLpaeTable extends IoPageTable implements PagesDriver {
  readonly pgsizeList: readonly number[];
  pagesMapped = 0;
  /** 6.12 splits a block on a partial unmap; 7.3 refuses. */
  private readonly splitBlocks: boolean;
  private readonly ptesPerTable: number;
  private readonly iasLimit: number;
  private gather: IotlbGather | null = null;
  private readonly walkGather = new IotlbGather();

  constructor(mem: PhysMemory, g: PtGeometry) {
    super(mem, g);
    this.pgsizeList = g.pgsizes;
    this.splitBlocks = g.profile === '6.12';
    this.ptesPerTable = 2 ** g.bitsPerLevel;
    this.iasLimit = 2 ** g.maxVaBits;
  }

  /** iommu_map's driver step: the iommu core's loop over map_pages (progress in `mapped`). */
  override map(iova: number, pa: number, len: number, prot: number): number {
    if (iova + len > 2 ** 53) {
      this.mapped = 0;
      return -ERANGE; // plain numbers stop at 2^53 (see mapWide)
    }
    return iommuMapLoop(this, iova, pa, len, prot);
  }

  /** arm_lpae_map_pages */
  mapPages(iova: number, paddr: number, pgLg2: number, pgcount: number, prot: number): number {
    if (this.levelOfLg2[pgLg2] === -1) return -EINVAL;
    if (iova >= this.iasLimit || paddr >= this.oaLimit) return -ERANGE;
    const rc = this.setProt(prot);
    if (rc !== 0) return rc;
    return this.lpaeMap(iova, paddr, pgLg2, pgcount);
  }

  /** __arm_lpae_map */
  private lpaeMap(iova: number, paddr: number, lg2: number, pgcount: number): number {
    const u = this.u32;
    const f = this.fmt;
    let table = this.root;
    for (let level = this.topLevel; ; level--) {
      const idx = this.index(iova, level);
      const w = (table >>> 2) + 2 * idx;
      if (lg2 === (this.itemLg2[level] as number)) {
        // arm_lpae_max_entries: up to the end of the current granule-sized table page.
        const max = this.ptesPerTable - (idx & (this.ptesPerTable - 1));
        const num = pgcount < max ? pgcount : max;
        const rc = this.initPte(iova, paddr, level, num, w);
        if (rc === 0) {
          const bytes = num * (this.itemSize[level] as number);
          this.pagesMapped += bytes;
          this.mappedBytes += bytes;
        }
        return rc;
      }
      if (level === 0) return -EINVAL; // cannot allocate tables at the final level
      const lo = u[w] as number;
      const hi = u[w + 1] as number;
      if (lo === 0 && hi === 0) {
        const child = this.allocTable(level - 1);
        if (child === 0) return -ENOMEM;
        this.writeTableEntry(w, level, child);
        this.flush(w * 4, 8);
        table = child;
        continue;
      }
      if (f.entryType(lo, hi, level) !== PT_ENTRY_TABLE) return -EEXIST; // we require an unmap first
      table = this.tablePa(lo, hi);
    }
  }

  /** arm_lpae_init_pte: refuse at a leaf, unmap tables in the way, then write the leaves. */
  private initPte(iova: number, paddr: number, level: number, num: number, w: number): number {
    const u = this.u32;
    const f = this.fmt;
    const size = this.itemSize[level] as number;
    for (let i = 0; i < num; i++) {
      const lo = u[w + 2 * i] as number;
      const hi = u[w + 2 * i + 1] as number;
      if (lo === 0 && hi === 0) continue;
      const type = f.entryType(lo, hi, level);
      if (type === PT_ENTRY_OA) return -EEXIST;
      if (type === PT_ENTRY_TABLE) {
        // __arm_lpae_unmap(data, NULL, iova + i * sz, sz, 1, lvl, tblp): the table and all it holds go.
        this.dropTable(w + 2 * i, level, iova + i * size);
      }
    }
    f.writeLeaves(u, w, num, paddr, this.itemLg2[level] as number, this.itemLg2[level] as number, level, this.attrs[0] as number, this.attrs[1] as number);
    this.flush(w * 4, num * 8);
    return 0;
  }

  /**
   * Clear the table entry at word `w` (a table at `level`) and free the table
   * below it with everything it holds, after a walk-cache flush of its range
   * (io_pgtable_tlb_flush_walk, then __arm_lpae_free_pgtable).
   */
  private dropTable(w: number, level: number, va: number): void {
    const u = this.u32;
    const child = this.tablePa(u[w] as number, u[w + 1] as number);
    this.mappedBytes -= this.leafBytes(child, level - 1);
    u[w] = 0;
    u[w + 1] = 0;
    this.flush(w * 4, 8);
    const g = this.walkGather;
    g.reset();
    g.addRange(va, this.itemSize[level] as number);
    this.freeSubtree(child, level - 1, g);
    this.sync(g);
  }

  /** Bytes of IOVA the leaves below a table map (accounting for a table freed whole). */
  private leafBytes(table: number, level: number): number {
    const u = this.u32;
    const f = this.fmt;
    const base = table >>> 2;
    const n = this.entries[level] as number;
    let b = 0;
    for (let i = 0; i < n; i++) {
      const lo = u[base + 2 * i] as number;
      const hi = u[base + 2 * i + 1] as number;
      if (lo === 0 && hi === 0) continue;
      if (f.entryType(lo, hi, level) === PT_ENTRY_TABLE) b += this.leafBytes(this.tablePa(lo, hi), level - 1);
      else b += this.itemSize[level] as number;
    }
    return b;
  }

  // ----------------------------------------------------------------- unmap

  /** __iommu_unmap's driver step: the iommu core's loop over unmap_pages. */
  override unmapNoSync(iova: number, len: number, gather: IotlbGather): number {
    this.gather = gather;
    const n = iommuUnmapLoop(this, iova, len);
    this.gather = null;
    return n;
  }

  /** arm_lpae_unmap_pages */
  unmapPages(iova: number, pgLg2: number, pgcount: number): number {
    if (this.levelOfLg2[pgLg2] === -1 || pgcount === 0) return 0;
    if (iova >= this.iasLimit) return 0;
    return this.lpaeUnmap(iova, pgLg2, pgcount, this.topLevel, this.root);
  }

  /** __arm_lpae_unmap from `table` at `level`. */
  private lpaeUnmap(iova: number, lg2: number, pgcount: number, level: number, table: number): number {
    const u = this.u32;
    const f = this.fmt;
    for (;;) {
      const idx = this.index(iova, level);
      const w = (table >>> 2) + 2 * idx;
      const lo = u[w] as number;
      const hi = u[w + 1] as number;
      if (lo === 0 && hi === 0) return 0;
      const size = this.itemSize[level] as number;
      if (lg2 === (this.itemLg2[level] as number)) {
        const max = this.ptesPerTable - (idx & (this.ptesPerTable - 1));
        const num = pgcount < max ? pgcount : max;
        let i = 0;
        for (; i < num; i++) {
          const l = u[w + 2 * i] as number;
          const h = u[w + 2 * i + 1] as number;
          if (l === 0 && h === 0) break;
          if (f.entryType(l, h, level) !== PT_ENTRY_OA) this.dropTable(w + 2 * i, level, iova + i * size);
          else this.mappedBytes -= size;
        }
        u.fill(0, w, w + 2 * i);
        this.flush(w * 4, i * 8);
        const g = this.gather;
        if (g !== null && i > 0) {
          g.addRange(iova, i * size);
          g.addLeaf(level, lg2);
        }
        return i * size;
      }
      if (f.entryType(lo, hi, level) === PT_ENTRY_OA) {
        if (!this.splitBlocks) return 0; // 7.3: WARN_ONCE "Unmap of a partial large IOPTE is not allowed"
        return this.splitBlockUnmap(iova, lg2, pgcount, level - 1, w);
      }
      table = this.tablePa(lo, hi);
      level--;
    }
  }

  /**
   * 6.12 arm_lpae_split_blk_unmap: replace the block at word `wBlk` by a table
   * of `level` entries holding the block's pieces, minus the ones being
   * unmapped when the page size is that level's; else continue the unmap in
   * the new table (which splits again).
   */
  private splitBlockUnmap(iova: number, lg2: number, pgcount: number, level: number, wBlk: number): number {
    if (level < 0) return 0;
    const u = this.u32;
    const f = this.fmt;
    const tab = this.allocTable(level);
    if (tab === 0) return 0;
    const splitSize = this.itemSize[level] as number;
    const splitLg2 = this.itemLg2[level] as number;
    let start = -1;
    let num = 0;
    if (lg2 === splitLg2) {
      start = this.index(iova, level);
      const max = this.ptesPerTable - (start & (this.ptesPerTable - 1));
      num = pgcount < max ? pgcount : max;
    }
    const blkLo = u[wBlk] as number;
    const blkHi = u[wBlk + 1] as number;
    const blkPa = f.leafOa(blkLo, blkHi, level + 1);
    const aLo = blkLo & ATTR_LO_MASK;
    const aHi = blkHi & ATTR_HI_MASK;
    const base = tab >>> 2;
    for (let i = 0; i < this.ptesPerTable; i++) {
      if (i >= start && i < start + num) continue;
      f.writeLeaves(u, base + 2 * i, 1, blkPa + i * splitSize, splitLg2, splitLg2, level, aLo, aHi);
    }
    this.flush(tab, this.ptesPerTable * 8);
    this.writeTableEntry(wBlk, level + 1, tab);
    this.flush(wBlk * 4, 8);
    if (start >= 0) {
      const g = this.gather;
      if (g !== null && num > 0) {
        g.addRange(iova, num * splitSize);
        g.addLeaf(level, lg2);
      }
      this.mappedBytes -= num * splitSize;
      return num * splitSize;
    }
    return this.lpaeUnmap(iova, lg2, pgcount, level, tab);
  }

  // ---------------------------------------------------------------- dirty

  private walkAddr = 0;
  private walkEnd = 0;

  /** arm_lpae_read_and_clear_dirty (stage 1 only). */
  override readAndClearDirty(iova: number, size: number, flags: number, rec: DirtyRecorder | null, gather: IotlbGather): number {
    if (!(size > 0)) return -EINVAL;
    if (iova + size - 1 >= this.iasLimit) return -EINVAL;
    if (this.kind === K_ARM_S2) return -EINVAL;
    this.walkAddr = iova;
    this.walkEnd = iova + size;
    return this.dirtyWalk(this.root, this.topLevel, (flags & IOMMU_DIRTY_NO_CLEAR) === 0, rec, gather);
  }

  /** __arm_lpae_iopte_walk with visit_dirty. */
  private dirtyWalk(table: number, level: number, clear: boolean, rec: DirtyRecorder | null, gather: IotlbGather): number {
    const u = this.u32;
    const f = this.fmt;
    const max = this.entries[level] as number;
    const size = this.itemSize[level] as number;
    for (let idx = this.index(this.walkAddr, level); idx < max && this.walkAddr < this.walkEnd; idx++) {
      const w = (table >>> 2) + 2 * idx;
      const lo = u[w] as number;
      const hi = u[w + 1] as number;
      const type = lo === 0 && hi === 0 ? 0 : f.entryType(lo, hi, level);
      if (type === PT_ENTRY_OA) {
        if (f.isWriteDirty(lo, hi)) {
          if (rec !== null) rec.record(this.walkAddr, size);
          gather.addRange(this.walkAddr, size);
          if (clear) {
            f.makeWriteClean(u, w);
            this.flush(w * 4, 8);
          }
        }
        this.walkAddr += size;
        continue;
      }
      if (type !== PT_ENTRY_TABLE) return -EINVAL;
      const r = this.dirtyWalk(this.tablePa(lo, hi), level - 1, clear, rec, gather);
      if (r !== 0) return r;
    }
    return 0;
  }

  /** What HTTU does on a write through a DBM leaf: clear AP[2]. A leaf without DBM cannot become dirty. */
  override setDirty(iova: number): number {
    if (!(iova >= 0) || iova >= this.vaLimit) return -ERANGE;
    const w = this.findLeaf(iova);
    if (w < 0) return -ENOENT;
    if (((this.u32[w + 1] as number) & ARM_DBM_HI) === 0) return -EINVAL;
    this.fmt.makeWriteDirty(this.u32, w);
    this.flush(w * 4, 8);
    return 0;
  }
}
