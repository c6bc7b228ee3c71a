/**
 * 6.12 AMD v1 as drivers/iommu/amd/io_pgtable.c maps and unmaps, driven by
 * the iommu core's map_pages/unmap_pages loop (iommu_core.ts), over the
 * amd-v1 format's entry operations. Levels are generic_pt's (0 = leaf table);
 * the kernel's "mode" is topLevel + 1.
 *
 *   iommu_v1_map_pages: per page, alloc_pte grows the table
 *     (increase_address_space) until the page fits, clears a larger
 *     replicated leaf in the way, replaces a natural-size leaf in the way by
 *     a new table; then every entry of the page is cleared
 *     (free_clear_pte: a table there is freed whole, whatever it holds) and
 *     written. Overlapping maps replace what was there.
 *   iommu_v1_unmap_pages: fetch_pte at each step; a leaf (all its replicas)
 *     is cleared whole and the step is its size; a missing table ends it; an
 *     empty level-0 entry counts as a 4 KiB unmap. Tables are never freed on
 *     unmap (only by a covering map or domain free).
 *   iommu_v1_read_and_clear_dirty: leaf by leaf from iova, recording the
 *     walk's current address; any replica's D bit marks the whole page.
 */
import { EINVAL, ENOENT, ENOMEM, ERANGE } from '../lib/errno.ts';
import type { PhysMemory } from '../lib/physmem.ts';
import { AMD_D, AMD_NL_SHIFT, AMD_PR } from './fmt/amdv1.ts';
import { vaBitsAtTop, type PtGeometry } from './format.ts';
import { IotlbGather } from './gather.ts';
import { iommuMapLoop, iommuUnmapLoop, type PagesDriver } from './iommu_core.ts';
import { POW2 } from './pgsize.ts';
import { IoPageTable, IOMMU_DIRTY_NO_CLEAR, type DirtyRecorder } from './table.ts';

const NL_SIZE = 7;

function nextLevel(lo: number): number {
  return (lo >>> AMD_NL_SHIFT) & 7;
}

export class AmdLegacyTable extends IoPageTable implements PagesDriver {
  readonly pgsizeList: readonly number[];
  pagesMapped = 0;
  private gather: IotlbGather | null = null;
  private readonly freeGather = new IotlbGather();
  /** fetch_pte results: the leaf's size (lg2) and its first replica's word. */
  private fetchLg2 = 0;

  constructor(mem: PhysMemory, g: PtGeometry) {
    super(mem, g);
    this.pgsizeList = g.pgsizes;
  }

  override map(iova: number, pa: number, len: number, prot: number): number {
    if (iova + len > 2 ** 53) {
      this.mapped = 0;
      return -ERANGE; // plain numbers stop at 2^53 (see mapWide)
    }
    return iommuMapLoop(this, iova, pa, len, prot);
  }

  /** amd_iommu_map_pages -> iommu_v1_map_pages */
  mapPages(iova: number, paddr: number, pgLg2: number, pgcount: number, prot: number): number {
    const rc = this.setProt(prot); // !(prot & IOMMU_PROT_MASK): -EINVAL
    if (rc !== 0) return rc;
    const pg = POW2[pgLg2] as number;
    const oIova = iova;
    const size = pgcount * pg;
    const level = Math.floor((pgLg2 - 12) / 9); // PAGE_SIZE_LEVEL
    const count = POW2[(pgLg2 - 12) % 9] as number; // PAGE_SIZE_PTE_COUNT
    const u = this.u32;
    const freed = this.freeGather;
    freed.reset();
    let ret = 0;
    while (pgcount > 0) {
      const w = this.allocPte(iova, pgLg2, level);
      if (w < 0) {
        ret = -ENOMEM;
        break;
      }
      // free_clear_pte on every entry the page covers: tables there are freed with their subtrees.
      for (let i = 0; i < count; i++) {
        const lo = u[w + 2 * i] as number;
        const nl = nextLevel(lo);
        if (lo & AMD_PR && nl !== 0 && nl !== NL_SIZE && level > 0) {
          const child = this.tablePa(lo, u[w + 2 * i + 1] as number);
          this.freeSubtreeByMode(child, nl - 1, freed);
        } else if (lo & AMD_PR) {
          this.mappedBytes -= this.itemSize[level] as number;
        }
        u[w + 2 * i] = 0;
        u[w + 2 * i + 1] = 0;
      }
      this.fmt.writeLeaves(u, w, 1, paddr, pgLg2, this.itemLg2[level] as number, level, this.attrs[0] as number, this.attrs[1] as number);
      this.flush(w * 4, count * 8);
      iova += pg;
      paddr += pg;
      pgcount--;
      this.pagesMapped += pg;
      this.mappedBytes += pg;
    }
    // "updated": amd_iommu_domain_flush_pages(dom, o_iova, size), then free the replaced tables.
    if (freed.freelist.length > 0) {
      freed.addRange(oIova, size);
      this.sync(freed);
    }
    return ret;
  }

  /** free_sub_pt(pt, mode): the table of `level` and the tables below it (leaf tables are freed directly). */
  private freeSubtreeByMode(table: number, level: number, g: IotlbGather): void {
    if (level > 0) {
      const u = this.u32;
      const base = table >>> 2;
      for (let i = 0; i < 512; i++) {
        const lo = u[base + 2 * i] as number;
        if (!(lo & AMD_PR)) continue;
        const nl = nextLevel(lo);
        if (nl === 0 || nl === NL_SIZE) continue;
        this.freeSubtreeByMode(this.tablePa(lo, u[base + 2 * i + 1] as number), level - 1, g);
      }
    }
    this.mappedBytes -= this.leafBytes(table, level);
    g.addTable(level, table, this.tableOrder[level] as number);
  }

  private leafBytes(table: number, level: number): number {
    const u = this.u32;
    const base = table >>> 2;
    let b = 0;
    for (let i = 0; i < 512; i++) {
      const lo = u[base + 2 * i] as number;
      if (!(lo & AMD_PR)) continue;
      const nl = nextLevel(lo);
      if (level === 0 || nl === 0 || nl === NL_SIZE) b += POW2[12 + 9 * level] as number;
    }
    return b;
  }

  /** PM_LEVEL_SIZE(mode): the last address a table with this top covers. */
  private levelSize(mode: number): number {
    return mode < 6 ? 2 ** (12 + 9 * mode) - 1 : Infinity;
  }

  /** increase_address_space: one more level on top. False when it cannot (allocation, or already 6 levels). */
  private increaseAddressSpace(): boolean {
    const t = this.allocTable(this.topLevel + 1 <= this.g.maxTopLevel ? this.topLevel + 1 : this.topLevel);
    if (t === 0) return false;
    if (this.topLevel + 1 > 5) {
      this.freeTable(t, 0); // WARN_ON_ONCE(mode == PAGE_MODE_6_LEVEL)
      return false;
    }
    const nl = this.topLevel + 1;
    // *pte = PM_LEVEL_PDE(mode, root): the entry's NextLevel is the new table's own level.
    this.writeTableEntry(t >>> 2, nl, this.root);
    this.flush(t, 8);
    this.root = t;
    this.topLevel = nl;
    this.g.topLevel = nl;
    this.g.vaBits = vaBitsAtTop(this.g, nl);
    if (this.winHi === 0) this.setNumberLimits();
    if (this.onChangeTop !== null) this.onChangeTop(this.rootHw, nl);
    return true;
  }

  /** Bits of the last address of a page (inside a wide window: the window's bits too). */
  private fitsMode(lastLo: number, mode: number): boolean {
    if (mode >= 6) return true;
    if (this.winHi !== 0) return 52 + 32 - Math.clz32(this.winHi) <= 12 + 9 * mode;
    return lastLo <= this.levelSize(mode);
  }

  /**
   * alloc_pte: the word of the first entry for a page of 2^pgLg2 at `level`,
   * growing the table and creating tables on the way; -1 when an allocation fails.
   */
  private allocPte(iova: number, pgLg2: number, level: number): number {
    const u = this.u32;
    const last = iova + (POW2[pgLg2] as number) - 1;
    while (!this.fitsMode(last, this.topLevel + 1) || this.topLevel < level) {
      if (!this.increaseAddressSpace()) return -1;
    }
    let table = this.root;
    let l = this.topLevel;
    let w = (table >>> 2) + 2 * this.index(iova, l);
    while (l > level) {
      const lo = u[w] as number;
      const nl = nextLevel(lo);
      if (lo & AMD_PR && nl === NL_SIZE) {
        // A larger replicated leaf in the way: clear every replica still holding it.
        const hi = u[w + 1] as number;
        const cnt = POW2[this.fmt.contigLg2(lo, hi, l)] as number;
        const first = w - 2 * (((w - (table >>> 2)) >>> 1) % cnt);
        for (let i = 0; i < cnt; i++) {
          if ((u[first + 2 * i] as number) === lo && (u[first + 2 * i + 1] as number) === hi) {
            u[first + 2 * i] = 0;
            u[first + 2 * i + 1] = 0;
            this.mappedBytes -= this.itemSize[l] as number;
          }
        }
        continue;
      }
      if (!(lo & AMD_PR) || nl === 0) {
        const child = this.allocTable(l - 1);
        if (child === 0) return -1;
        this.writeTableEntry(w, l, child);
        this.flush(w * 4, 8);
        continue;
      }
      if (nl !== l) return -1; // no level skipping
      table = this.tablePa(lo, u[w + 1] as number);
      l--;
      w = (table >>> 2) + 2 * this.index(iova, l);
    }
    return w;
  }

  /**
   * fetch_pte: the word of the leaf for iova (its first replica) with its size
   * in fetchLg2, or -1. Reaching level 0 it returns the entry even when empty.
   */
  private fetchPte(iova: number): number {
    const u = this.u32;
    const mode = this.topLevel + 1;
    if (!this.fitsMode(iova, mode)) {
      this.fetchLg2 = -1;
      return -1;
    }
    let l = this.topLevel;
    let table = this.root;
    let w = (table >>> 2) + 2 * this.index(iova, l);
    this.fetchLg2 = 12 + 9 * l;
    while (l > 0) {
      const lo = u[w] as number;
      if (!(lo & AMD_PR)) return -1;
      const nl = nextLevel(lo);
      if (nl === NL_SIZE || nl === 0) break;
      if (nl !== l) return -1;
      table = this.tablePa(lo, u[w + 1] as number);
      l--;
      w = (table >>> 2) + 2 * this.index(iova, l);
      this.fetchLg2 = 12 + 9 * l;
    }
    const lo = u[w] as number;
    if (nextLevel(lo) === NL_SIZE) {
      // first_pte_l7: the size from the run of ones (PTE_PAGE_SIZE), the first replica.
      const hi = u[w + 1] as number;
      const runLg2 = this.fmt.contigLg2(lo, hi, l);
      this.fetchLg2 = 12 + 9 * l + runLg2;
      const cnt = POW2[runLg2] as number;
      w -= 2 * (((w - (table >>> 2)) >>> 1) % cnt);
    }
    return w;
  }

  /**
   * The iommu core's unsigned long IOVA wraps: a map running past 2^64 continues at 0
   * (iommu_v1_map_pages adds pgsize to iova page by page).
   */
  override mapWide(iova: bigint, pa: number, len: number, prot: number): number {
    const top = 1n << 64n;
    if (len <= 0 || iova + BigInt(len) <= top) return super.mapWide(iova, pa, len, prot);
    const first = Number(top - iova);
    const rc = super.mapWide(iova, pa, first, prot);
    if (rc !== 0) return rc;
    const rc2 = super.mapWide(0n, pa + first, len - first, prot);
    this.mapped += first;
    return rc2;
  }

  override unmapWideNoSync(iova: bigint, len: number, gather: IotlbGather): number {
    const top = 1n << 64n;
    if (len <= 0 || iova + BigInt(len) <= top) return super.unmapWideNoSync(iova, len, gather);
    const first = Number(top - iova);
    const n = super.unmapWideNoSync(iova, first, gather);
    return n < first ? n : n + super.unmapWideNoSync(0n, len - first, gather);
  }

  // ----------------------------------------------------------------- unmap

  override unmapNoSync(iova: number, len: number, gather: IotlbGather): number {
    this.gather = gather;
    const n = iommuUnmapLoop(this, iova, len);
    this.gather = null;
    return n;
  }

  /** amd_iommu_unmap_pages -> iommu_v1_unmap_pages */
  unmapPages(iova: number, pgLg2: number, pgcount: number): number {
    const u = this.u32;
    const size = pgcount * (POW2[pgLg2] as number);
    let unmapped = 0;
    const start = iova;
    while (unmapped < size) {
      const w = this.fetchPte(iova);
      if (w < 0) break;
      const sz = POW2[this.fetchLg2] as number;
      const cnt = POW2[(this.fetchLg2 - 12) % 9] as number;
      for (let i = 0; i < cnt; i++) {
        if ((u[w + 2 * i] as number) & AMD_PR) this.mappedBytes -= sz / cnt;
        u[w + 2 * i] = 0;
        u[w + 2 * i + 1] = 0;
      }
      this.flush(w * 4, cnt * 8);
      iova = Math.floor(iova / sz) * sz + sz;
      unmapped += sz;
    }
    if (unmapped > 0 && this.gather !== null) {
      this.gather.addRange(start, unmapped);
      this.gather.addLeaf(0, 12);
    }
    return unmapped;
  }

  // ------------------------------------------------------------ lookups

  /** iommu_v1_iova_to_phys */
  override iovaToPhys(iova: number): number {
    if (!(iova >= 0) || iova >= this.vaLimit) return 0;
    const w = this.fetchPte(iova);
    if (w < 0) return 0;
    const lo = this.u32[w] as number;
    if (!(lo & AMD_PR)) return 0;
    const sz = POW2[this.fetchLg2] as number;
    // (pte & PM_ADDR_MASK & ~offset_mask) | (iova & offset_mask)
    const raw = ((this.u32[w + 1] as number) & 0xfffff) * 4294967296 + ((lo & 0xfffff000) >>> 0);
    return raw - (raw % sz) + (iova % sz);
  }

  // ---------------------------------------------------------------- dirty

  /** iommu_v1_read_and_clear_dirty (amd_iommu_read_and_clear_dirty refuses a bitmap while tracking is off). */
  override readAndClearDirty(iova: number, size: number, flags: number, rec: DirtyRecorder | null, gather: IotlbGather): number {
    if (!this.dirtyTracking && rec !== null) return -EINVAL;
    const u = this.u32;
    const end = iova + size - 1;
    const testOnly = (flags & IOMMU_DIRTY_NO_CLEAR) !== 0;
    do {
      const w = this.fetchPte(iova);
      let pgsize = this.fetchLg2 >= 0 ? (POW2[this.fetchLg2] as number) : 0;
      if (w < 0 || !((u[w] as number) & AMD_PR)) {
        iova += pgsize > 0 ? pgsize : 4096;
        continue;
      }
      pgsize = POW2[this.fetchLg2] as number;
      const cnt = POW2[(this.fetchLg2 - 12) % 9] as number;
      let dirty = false;
      for (let i = 0; i < cnt; i++) {
        const lo = u[w + 2 * i] as number;
        if (lo & AMD_D) {
          dirty = true;
          if (testOnly) break;
          u[w + 2 * i] = (lo & ~AMD_D) >>> 0;
        }
      }
      if (dirty) {
        this.flush(w * 4, cnt * 8);
        if (rec !== null) rec.record(iova, pgsize);
        gather.addRange(iova, pgsize);
      }
      iova += pgsize;
    } while (iova < end);
    return 0;
  }

  /** What the IOMMU does with DTE[HAD] on a write: set D in the leaf PTE fetch_pte finds (the first replica). */
  override setDirty(iova: number): number {
    const w = this.fetchPte(iova);
    if (w < 0 || !((this.u32[w] as number) & AMD_PR)) return -ENOENT;
    this.fmt.makeWriteDirty(this.u32, w);
    this.flush(w * 4, 8);
    return 0;
  }
}
