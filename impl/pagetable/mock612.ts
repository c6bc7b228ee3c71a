/**
 * The 6.12 iommufd selftest mock domain (drivers/iommu/iommufd/selftest.c,
 * v6.12): no real table, an xarray keyed by IOVA / MOCK_IO_PAGE_SIZE (2 KiB)
 * whose values are the 2 KiB PFN plus flag bits. Mirrors mock_domain_map_pages,
 * mock_domain_unmap_pages, mock_domain_iova_to_phys, the dirty ops, and the
 * iommu core loops (__iommu_map / __iommu_unmap with iommu_pgsize) that call them.
 *
 * Kernel quirks kept on purpose: START and LAST share one bit
 * (MOCK_PFN_START_IOVA == MOCK_PFN_LAST_IOVA); map over a present entry
 * overwrites it and WARNs; unmap returns pgsize*pgcount even over holes;
 * iova_to_phys returns the 2 KiB-aligned PA (no offset) and WARNs when unmapped.
 * WARN_ONs are counted in `warnings`.
 */
import { EINVAL } from '../lib/errno.ts';
import { MOCK_APERTURE_LAST, MOCK_APERTURE_START } from '../../spec/uapi/constants.ts';
import { IOMMU_DIRTY_NO_CLEAR, type DirtyRecorder } from './table.ts';
import { iommuPgsize } from './pgsize.ts';

export const MOCK_IO_PAGE_SIZE = 2048;
export const MOCK_HUGE_PAGE_SIZE = 512 * MOCK_IO_PAGE_SIZE;
export { MOCK_APERTURE_START, MOCK_APERTURE_LAST };

/** Flag bits stored below the PFN (value = pfn * 8 + flags). */
export const MOCK_PFN_START_IOVA = 1;
export const MOCK_PFN_LAST_IOVA = 1;
export const MOCK_PFN_DIRTY_IOVA = 2;
export const MOCK_PFN_HUGE_IOVA = 4;

export class MockSparseTable {
  readonly pfns = new Map<number, number>();
  /** pgsize_bitmap as lg2 list: 2 KiB, plus 1 MiB when the device asks for huge IOVA. */
  readonly pgsizeLg2: number[];
  dirtyTracking = false;
  warnings = 0;
  mapped = 0;

  constructor(hugeIova: boolean) {
    this.pgsizeLg2 = hugeIova ? [11, 20] : [11];
  }

  private get huge(): boolean {
    return this.pgsizeLg2.length > 1;
  }

  /** __iommu_map over mock_domain_map_pages. Never fails past the alignment check. */
  map(iova: number, paddr: number, size: number): number {
    this.mapped = 0;
    if ((iova % MOCK_IO_PAGE_SIZE) + (paddr % MOCK_IO_PAGE_SIZE) + (size % MOCK_IO_PAGE_SIZE) !== 0) return -EINVAL;
    while (size > 0) {
      const [pg, count] = iommuPgsize(this.pgsizeLg2, iova, paddr, size);
      const pgsize = 2 ** pg;
      this.mapPages(iova, paddr, pgsize, count);
      const done = pgsize * count;
      size -= done;
      iova += done;
      paddr += done;
      this.mapped += done;
    }
    return 0;
  }

  private mapPages(iova: number, paddr: number, pgsize: number, pgcount: number): void {
    let flags = MOCK_PFN_START_IOVA;
    for (; pgcount > 0; pgcount--) {
      for (let cur = 0; cur !== pgsize; cur += MOCK_IO_PAGE_SIZE) {
        if (pgcount === 1 && cur + MOCK_IO_PAGE_SIZE === pgsize) flags = MOCK_PFN_LAST_IOVA;
        if (pgsize !== MOCK_IO_PAGE_SIZE) flags |= MOCK_PFN_HUGE_IOVA;
        const k = iova / MOCK_IO_PAGE_SIZE;
        if (this.pfns.has(k)) this.warnings++;
        this.pfns.set(k, (paddr / MOCK_IO_PAGE_SIZE) * 8 + flags);
        iova += MOCK_IO_PAGE_SIZE;
        paddr += MOCK_IO_PAGE_SIZE;
        flags = 0;
      }
    }
  }

  /** __iommu_unmap over mock_domain_unmap_pages; returns bytes (0 when unaligned). */
  unmap(iova: number, size: number): number {
    if ((iova % MOCK_IO_PAGE_SIZE) + (size % MOCK_IO_PAGE_SIZE) !== 0) return 0;
    let unmapped = 0;
    while (unmapped < size) {
      const [pg, count] = iommuPgsize(this.pgsizeLg2, iova, iova, size - unmapped);
      const n = this.unmapPages(iova, 2 ** pg, count);
      if (n === 0) break;
      iova += n;
      unmapped += n;
    }
    return unmapped;
  }

  private unmapPages(iova: number, pgsize: number, pgcount: number): number {
    let first = true;
    let ret = 0;
    for (; pgcount > 0; pgcount--) {
      for (let cur = 0; cur !== pgsize; cur += MOCK_IO_PAGE_SIZE) {
        const k = iova / MOCK_IO_PAGE_SIZE;
        const ent = this.pfns.get(k);
        this.pfns.delete(k);
        // iommufd's unmaps must be a superset of its maps: every start/end was a map boundary.
        if (!this.huge) {
          if (first) {
            if (ent !== undefined && !(ent & MOCK_PFN_START_IOVA)) this.warnings++;
            first = false;
          }
          if (pgcount === 1 && cur + MOCK_IO_PAGE_SIZE === pgsize) {
            if (ent !== undefined && !(ent & MOCK_PFN_LAST_IOVA)) this.warnings++;
          }
        }
        iova += MOCK_IO_PAGE_SIZE;
        ret += MOCK_IO_PAGE_SIZE;
      }
    }
    return ret;
  }

  iovaToPhys(iova: number): number {
    if (iova % MOCK_IO_PAGE_SIZE !== 0) this.warnings++;
    const ent = this.pfns.get(Math.floor(iova / MOCK_IO_PAGE_SIZE));
    if (ent === undefined) {
      this.warnings++;
      return 0;
    }
    return Math.floor(ent / 8) * MOCK_IO_PAGE_SIZE;
  }

  /** mock_domain_set_dirty_tracking (the caller checks dirty_ops presence). */
  setDirtyTracking(enable: boolean): number {
    this.dirtyTracking = enable;
    return 0;
  }

  /** mock_domain_read_and_clear_dirty */
  readAndClearDirty(iova: number, size: number, flags: number, rec: DirtyRecorder | null): number {
    if (!this.dirtyTracking && rec !== null) return -EINVAL;
    const end = iova + size;
    do {
      let pgsize = MOCK_IO_PAGE_SIZE;
      const ent = this.pfns.get(Math.floor(iova / MOCK_IO_PAGE_SIZE));
      if (ent === undefined) {
        iova += pgsize;
        continue;
      }
      if (ent & MOCK_PFN_HUGE_IOVA) pgsize = MOCK_HUGE_PAGE_SIZE;
      const head = iova - (iova % pgsize);
      if (this.testAndClearDirty(head, pgsize, flags) && rec !== null) rec.record(iova, pgsize);
      iova += pgsize;
    } while (iova < end);
    return 0;
  }

  private testAndClearDirty(iova: number, pageSize: number, flags: number): boolean {
    const end = iova + pageSize - 1;
    let dirty = false;
    for (let cur = iova; cur < end; cur += MOCK_IO_PAGE_SIZE) {
      const k = cur / MOCK_IO_PAGE_SIZE;
      const ent = this.pfns.get(k);
      if (ent === undefined || !(ent & MOCK_PFN_DIRTY_IOVA)) continue;
      dirty = true;
      if (!(flags & IOMMU_DIRTY_NO_CLEAR)) this.pfns.set(k, ent - MOCK_PFN_DIRTY_IOVA);
    }
    return dirty;
  }

  /** IOMMU_TEST_OP_DIRTY on one IOVA: mark the entry dirty. Returns 1 if it was marked. */
  setDirty(iova: number): number {
    const k = Math.floor(iova / MOCK_IO_PAGE_SIZE);
    const ent = this.pfns.get(k);
    if (ent === undefined || ent & MOCK_PFN_DIRTY_IOVA) return 0;
    this.pfns.set(k, ent + MOCK_PFN_DIRTY_IOVA);
    return 1;
  }

  /** Entries present (for leak checks: 0 after unmap-all). */
  get count(): number {
    return this.pfns.size;
  }
}
