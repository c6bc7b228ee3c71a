/**
 * 6.12 VT-d (second stage, and first stage with use_first_level) as
 * drivers/iommu/intel/iommu.c maps and unmaps, driven by the iommu core's
 * map_pages/unmap_pages loop (iommu_core.ts), over the vtd-ss / x86-64
 * format's entry operations. Level numbers here are generic_pt's (0 = the
 * leaf table, VT-d's level 1).
 *
 *   intel_iommu_map_pages -> intel_iommu_map -> __domain_mapping: per table,
 *     the largest superpage level the alignment of iova|phys and the page
 *     count allow (hardware_largepage_caps), tables in a superpage's way
 *     freed first (switch_to_super_page: dma_pte_free_pagetable, immediate),
 *     a present entry kept with a WARN ("DMA PTE for vPFN ... already set");
 *     `mapped` is the whole size, and only on success.
 *   intel_iommu_unmap: the size grows to the leaf at iova; domain_unmap clears
 *     [start, last] whatever it holds (holes too) and lists fully covered
 *     tables for freeing after the flush (dma_pte_clear_level); the size is
 *     returned.
 *   intel_iommu_read_and_clear_dirty: leaf by leaf from iova, recording the
 *     walk's current address.
 * A map inside an existing superpage, or an unmap that cuts one, makes the
 * kernel walk into the data page as if it were a table; the iommu API contract
 * (and iommufd) never asks for either. This model does the same walk.
 */
import { EFAULT, EINVAL, ENOMEM, ERANGE } from '../lib/errno.ts';
import type { PhysMemory } from '../lib/physmem.ts';
import { VTDSS_PS } from './fmt/vtdss.ts';
import type { PtGeometry } from './format.ts';
import { IotlbGather } from './gather.ts';
import { iommuChunksBelow, iommuMapLoop, iommuUnmapLoop, type PagesDriver } from './iommu_core.ts';
import { POW2 } from './pgsize.ts';
import { IoPageTable, IOMMU_DIRTY_NO_CLEAR, type DirtyRecorder } from './table.ts';

const DMA_SL_PTE_DIRTY = 1 << 9;

export class IntelLegacyTable extends IoPageTable implements PagesDriver {
  readonly pgsizeList: readonly number[];
  pagesMapped = 0;
  /** iommu_superpage: superpage levels supported (0 none, 1 = 2M, 2 = 2M+1G). */
  private readonly superpage: number;
  /** 2^gaw: intel_iommu_map's width check (__DOMAIN_MAX_ADDR(gaw) + 1). */
  private readonly gawLimit: number;
  private gather: IotlbGather | null = null;
  /** The entry word found by pfnToPte, -1 for none (and its level). */
  private pteLevel = 0;

  constructor(mem: PhysMemory, g: PtGeometry) {
    super(mem, g);
    this.pgsizeList = g.pgsizes;
    this.superpage = g.pgsizes.includes(30) ? 2 : g.pgsizes.includes(21) ? 1 : 0;
    this.gawLimit = 2 ** g.maxVaBits;
  }

  override map(iova: number, pa: number, len: number, prot: number): number {
    if (iova + len > 2 ** 53) {
      this.mapped = 0;
      return -ERANGE; // plain numbers stop at 2^53 (see mapWide)
    }
    return iommuMapLoop(this, iova, pa, len, prot);
  }

  /** intel_iommu_map_pages + intel_iommu_map */
  mapPages(iova: number, paddr: number, pgLg2: number, pgcount: number, prot: number): number {
    if (pgLg2 !== 12 && pgLg2 !== 21 && pgLg2 !== 30) return -EINVAL;
    const pg = POW2[pgLg2] as number;
    if (iova % pg !== 0 || paddr % pg !== 0) return -EINVAL;
    const size = pgcount * pg;
    // max_addr: the domain's width (the aperture of a first-stage domain is one bit less).
    // (A wide map was cut at the width by mapWide.)
    if (this.winHi === 0 && iova + size > this.gawLimit) return -EFAULT;
    const rc = this.domainMapping(iova / 4096, paddr / 4096, size / 4096, prot);
    if (rc === 0) {
      this.pagesMapped = size;
      this.mappedBytes += size;
    }
    return rc;
  }

  /** __domain_mapping */
  private domainMapping(ivPfn: number, phPfn: number, nrPages: number, prot: number): number {
    if (!this.pfnSupported(ivPfn + nrPages - 1)) return -EINVAL;
    if ((prot & 3) === 0) return -EINVAL; // (prot & (DMA_PTE_READ | DMA_PTE_WRITE)) == 0
    const rc = this.setProt(prot);
    if (rc !== 0) return rc;
    const u = this.u32;
    const f = this.fmt;
    let w = -1;
    let level = 0;
    let lvlPages = 1;
    let first = -1;
    while (nrPages > 0) {
      if (w < 0) {
        level = this.largepageCaps(ivPfn, phPfn, nrPages);
        w = this.pfnToPte(ivPfn, level, true);
        if (w < 0) return -ENOMEM;
        first = w;
        lvlPages = POW2[9 * level] as number;
        if (level > 0) {
          const toNextPage = 512 - ((w >>> 1) & 511);
          const remove = Math.min(Math.floor(nrPages / lvlPages) * lvlPages, toNextPage * lvlPages);
          this.switchToSuperPage(ivPfn, ivPfn + remove - 1, level);
        }
      }
      // try_cmpxchg64_local(&pte->val, 0, pteval): a present entry is kept (WARN "already set").
      if ((u[w] as number) === 0 && (u[w + 1] as number) === 0) {
        f.writeLeaves(u, w, 1, phPfn * 4096, this.itemLg2[level] as number, this.itemLg2[level] as number, level, this.attrs[0] as number, this.attrs[1] as number);
      }
      nrPages -= lvlPages;
      ivPfn += lvlPages;
      phPfn += lvlPages;
      w += 2;
      if (nrPages === 0 || ((w >>> 1) & 511) === 0 || (level > 0 && nrPages < lvlPages)) {
        this.flush(first * 4, (w - first) * 4);
        w = -1;
      }
    }
    return 0;
  }

  /** domain_pfn_supported (inside a wide window the window's bits count). */
  private pfnSupported(pfn: number): boolean {
    if (this.winHi !== 0) return this.winHi < 2 ** (this.g.maxVaBits - 52);
    return pfn < 2 ** (this.g.maxVaBits - 12);
  }

  /**
   * A wide map running past the domain's width: intel_iommu_map fails the
   * first map_pages chunk that reaches beyond 2^gaw with -EFAULT, after the
   * chunks before it were mapped (the iommu core then undoes them).
   */
  override mapWide(iova: bigint, pa: number, len: number, prot: number): number {
    const limit = 1n << BigInt(this.g.maxVaBits);
    if (len <= 0 || iova + BigInt(len) <= limit) return super.mapWide(iova, pa, len, prot);
    const ok = iommuChunksBelow(this.pgsizeList, iova, BigInt(pa), BigInt(len), limit);
    if (ok > 0n) {
      const rc = super.mapWide(iova, pa, Number(ok), prot);
      if (rc !== 0) return rc;
    } else {
      this.mapped = 0;
    }
    return -EFAULT;
  }

  /** hardware_largepage_caps: the largest superpage level (0 = 4K) for the pfns and count. */
  private largepageCaps(ivPfn: number, phPfn: number, pages: number): number {
    let support = this.superpage;
    let level = 0;
    let iv = ivPfn;
    let ph = phPfn;
    while (support > 0 && iv % 512 === 0 && ph % 512 === 0) {
      pages = Math.floor(pages / 512);
      if (pages === 0) break;
      iv /= 512;
      ph /= 512;
      level++;
      support--;
    }
    return level;
  }

  /**
   * pfn_to_dma_pte: the entry word for `pfn` at `target` (generic_pt level), or
   * with target -1 the first superpage / non-present entry or the leaf (its
   * level in pteLevel); tables are allocated on the way when `alloc`. -1 if an
   * allocation fails.
   */
  private pfnToPte(pfn: number, target: number, alloc: boolean): number {
    const u = this.u32;
    const va = pfn * 4096;
    let table = this.root;
    for (let level = this.topLevel; ; level--) {
      const w = (table >>> 2) + 2 * this.index(va, level);
      const lo = u[w] as number;
      const present = (lo & 3) !== 0;
      if (target < 0 && ((lo & VTDSS_PS) !== 0 || !present)) {
        this.pteLevel = level;
        return w;
      }
      if (level === target) {
        this.pteLevel = level;
        return w;
      }
      if (!present) {
        if (!alloc) return -1;
        const child = this.allocTable(level - 1);
        if (child === 0) return -1;
        this.writeTableEntry(w, level, child);
        this.flush(w * 4, 8);
      }
      if (level === 0) {
        this.pteLevel = 0;
        return w;
      }
      table = this.tablePa(u[w] as number, u[w + 1] as number);
      if (table + 4096 > this.mem.size || table < 4096) return -1;
    }
  }

  /** switch_to_super_page: free the tables in the way of superpages of `level` over [start, end]. */
  private switchToSuperPage(startPfn: number, endPfn: number, level: number): void {
    const lvlPages = POW2[9 * level] as number;
    if (startPfn % lvlPages !== 0 || (endPfn + 1) % lvlPages !== 0) return; // WARN
    let w = -1;
    while (startPfn <= endPfn) {
      if (w < 0) w = this.pfnToPte(startPfn, level, false);
      if (w < 0) return;
      // retain_level is VT-d's numbering: the superpage's level (ours + 1) plus one.
      if (((this.u32[w] as number) & 3) !== 0) {
        this.freePagetable(startPfn, startPfn + lvlPages - 1, level + 2);
        // cache_tag_flush_range(domain, start_pfn << 12, end_pfn << 12, 0): IH=0, the walk caches
        // drop the freed tables too.
        const g = new IotlbGather();
        g.addRange(startPfn * 4096, (endPfn - startPfn) * 4096 + 1);
        g.tableLevels |= 1 << (level - 1);
        this.onFlush?.(g);
      }
      w += 2;
      startPfn += lvlPages;
      if (((w >>> 1) & 511) === 0) w = -1;
    }
  }

  /** dma_pte_free_pagetable: clear the leaves of [start, last], free tables below VT-d level `retain` fully inside it. */
  private freePagetable(startPfn: number, lastPfn: number, retain: number): void {
    this.clearRange(startPfn, lastPfn);
    this.freeLevel(this.topLevel, retain, this.root, 0, startPfn, lastPfn);
  }

  /** dma_pte_clear_range */
  private clearRange(startPfn: number, lastPfn: number): void {
    const u = this.u32;
    do {
      const w0 = this.pfnLevelPte(startPfn);
      const large = this.pteLevel;
      if (w0 < 0) {
        const step = POW2[9 * (large + 1)] as number;
        startPfn = Math.floor((startPfn + 1 + step - 1) / step) * step;
        continue;
      }
      let w = w0;
      do {
        u[w] = 0;
        u[w + 1] = 0;
        startPfn += POW2[9 * large] as number;
        w += 2;
      } while (startPfn <= lastPfn && ((w >>> 1) & 511) !== 0);
      this.flush(w0 * 4, (w - w0) * 4);
    } while (startPfn !== 0 && startPfn <= lastPfn);
  }

  /** dma_pfn_level_pte(domain, pfn, 1, &large_page): the leaf-level entry or a superpage; -1 with pteLevel at a hole. */
  private pfnLevelPte(pfn: number): number {
    const u = this.u32;
    const va = pfn * 4096;
    let table = this.root;
    for (let level = this.topLevel; ; level--) {
      const w = (table >>> 2) + 2 * this.index(va, level);
      if (level === 0) {
        this.pteLevel = 0;
        return w;
      }
      const lo = u[w] as number;
      if ((lo & 3) === 0) {
        this.pteLevel = level;
        return -1;
      }
      if (lo & VTDSS_PS) {
        this.pteLevel = level;
        return w;
      }
      table = this.tablePa(lo, u[w + 1] as number);
    }
  }

  /** dma_pte_free_level: free (now, not through the gather) tables below `retain` the range covers. */
  private freeLevel(level: number, retain: number, table: number, pfn: number, startPfn: number, lastPfn: number): void {
    const u = this.u32;
    const span = POW2[9 * level] as number; // pages one entry covers
    pfn = Math.max(startPfn, pfn);
    let w = (table >>> 2) + 2 * this.index(pfn * 4096, level);
    do {
      const levelPfn = Math.floor(pfn / span) * span;
      const lo = u[w] as number;
      if ((lo & 3) !== 0 && (lo & VTDSS_PS) === 0 && level > 0) {
        const child = this.tablePa(lo, u[w + 1] as number);
        if (level > 1) this.freeLevel(level - 1, retain, child, levelPfn, startPfn, lastPfn);
        if (level + 1 < retain && !(startPfn > levelPfn || lastPfn < levelPfn + span - 1)) {
          u[w] = 0;
          u[w + 1] = 0;
          this.flush(w * 4, 8);
          this.freeTable(child, this.tableOrder[level - 1] as number);
        }
      }
      pfn += span;
      w += 2;
    } while (((w >>> 1) & 511) !== 0 && pfn <= lastPfn);
  }

  // ----------------------------------------------------------------- unmap

  override unmapNoSync(iova: number, len: number, gather: IotlbGather): number {
    this.gather = gather;
    const n = iommuUnmapLoop(this, iova, len);
    this.gather = null;
    return n;
  }

  /** intel_iommu_unmap_pages -> intel_iommu_unmap */
  unmapPages(iova: number, pgLg2: number, pgcount: number): number {
    let size = pgcount * (POW2[pgLg2] as number);
    const pfn = iova / 4096;
    if (!this.pfnSupported(pfn)) return 0;
    if (this.pfnToPte(pfn, -1, false) < 0) return 0;
    const leaf = POW2[12 + 9 * this.pteLevel] as number;
    if (size < leaf) size = leaf;
    const startPfn = pfn;
    const lastPfn = Math.floor((iova + size - 1) / 4096);
    if (!this.pfnSupported(lastPfn)) return size; // domain_unmap: WARN, nothing cleared
    const g = this.gather;
    this.clearLevel(this.topLevel, this.root, 0, startPfn, lastPfn, g);
    if (g !== null) {
      g.addRange(iova, size);
      g.addLeaf(0, 12);
    }
    return size;
  }

  /** dma_pte_clear_level: clear [start, last]; fully covered tables go on the gather's free list. */
  private clearLevel(level: number, table: number, pfn: number, startPfn: number, lastPfn: number, g: IotlbGather | null): void {
    const u = this.u32;
    const span = POW2[9 * level] as number;
    pfn = Math.max(startPfn, pfn);
    let w = (table >>> 2) + 2 * this.index(pfn * 4096, level);
    const w0 = w;
    do {
      const levelPfn = Math.floor(pfn / span) * span;
      const lo = u[w] as number;
      if ((lo & 3) !== 0) {
        if (startPfn <= levelPfn && lastPfn >= levelPfn + span - 1) {
          if (level > 0 && (lo & VTDSS_PS) === 0) {
            const child = this.tablePa(lo, u[w + 1] as number);
            if (g !== null) this.freeSubtree(child, level - 1, g);
            this.mappedBytes -= this.leafBytes(child, level - 1);
          } else {
            this.mappedBytes -= span * 4096;
          }
          u[w] = 0;
          u[w + 1] = 0;
        } else if (level > 0) {
          this.clearLevel(level - 1, this.tablePa(lo, u[w + 1] as number), levelPfn, startPfn, lastPfn, g);
        }
      }
      pfn = levelPfn + span;
      w += 2;
    } while (((w >>> 1) & 511) !== 0 && pfn <= lastPfn);
    this.flush(w0 * 4, (w - w0) * 4);
  }

  /** Bytes of IOVA the leaves below a table map. */
  private leafBytes(table: number, level: number): number {
    const u = this.u32;
    const base = table >>> 2;
    let b = 0;
    for (let i = 0; i < 512; i++) {
      const lo = u[base + 2 * i] as number;
      if ((lo & 3) === 0) continue;
      if (level > 0 && (lo & VTDSS_PS) === 0) b += this.leafBytes(this.tablePa(lo, u[base + 2 * i + 1] as number), level - 1);
      else b += POW2[12 + 9 * level] as number;
    }
    return b;
  }

  // ------------------------------------------------------------ lookups

  /** intel_iommu_iova_to_phys */
  override iovaToPhys(iova: number): number {
    if (!(iova >= 0) || iova >= this.vaLimit) return 0;
    const w = this.pfnToPte(Math.floor(iova / 4096), -1, false);
    if (w < 0) return 0;
    const lo = this.u32[w] as number;
    if ((lo & 3) === 0) return 0;
    const hi = this.u32[w + 1] as number;
    const level = this.pteLevel;
    const size = POW2[12 + 9 * level] as number;
    return this.fmt.leafOa(lo, hi, level) + (iova % size);
  }

  // ---------------------------------------------------------------- dirty

  /** intel_iommu_read_and_clear_dirty */
  override readAndClearDirty(iova: number, size: number, flags: number, rec: DirtyRecorder | null, gather: IotlbGather): number {
    if (!this.dirtyTracking && rec !== null) return -EINVAL;
    const end = iova + size - 1;
    const u = this.u32;
    do {
      const w = this.pfnSupported(Math.floor(iova / 4096)) ? this.pfnToPte(Math.floor(iova / 4096), -1, false) : -1;
      const pgsize = POW2[12 + 9 * this.pteLevel] as number;
      if (w < 0 || ((u[w] as number) & 3) === 0) {
        iova += pgsize;
        continue;
      }
      const lo = u[w] as number;
      let dirty: boolean;
      if (flags & IOMMU_DIRTY_NO_CLEAR) dirty = (lo & DMA_SL_PTE_DIRTY) !== 0;
      else {
        dirty = (lo & DMA_SL_PTE_DIRTY) !== 0;
        if (dirty) {
          u[w] = (lo & ~DMA_SL_PTE_DIRTY) >>> 0;
          this.flush(w * 4, 8);
        }
      }
      if (dirty) {
        if (rec !== null) rec.record(iova, pgsize);
        gather.addRange(iova, pgsize);
      }
      iova += pgsize;
    } while (iova < end);
    return 0;
  }
}
