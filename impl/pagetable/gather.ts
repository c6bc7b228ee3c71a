/**
 * struct iommu_iotlb_gather: the range to invalidate, the page size and table
 * levels touched, and table pages that may only be freed after the IOTLB and
 * walk caches have been invalidated (iommu_iotlb_sync frees the list).
 * Mirrors include/linux/iommu.h plus generic_pt's "detailed gather" bitmaps.
 * FLUSH_RANGE semantics: one over-covering range per operation.
 */
export class IotlbGather {
  /** First IOVA (inclusive); Infinity when empty. */
  start = Infinity;
  /** Last IOVA (inclusive); -1 when empty. */
  end = -1;
  /** Largest leaf size (lg2) removed or cleaned, 0 if none. */
  pgsizeLg2 = 0;
  /** Bitmask of levels whose leaves changed. */
  leafLevels = 0;
  /** Bitmask of levels whose table pointers were cleared (walk-cache entries to drop). */
  tableLevels = 0;
  /** The range lies above 2^53 (wide IOVAs): the flush must be domain-selective. */
  wide = false;
  /** Table pages to free after the flush: pairs of (pa, order). */
  readonly freelist: number[] = [];

  get empty(): boolean {
    return this.end < this.start;
  }

  /** iommu_iotlb_gather_init */
  reset(): void {
    this.start = Infinity;
    this.end = -1;
    this.pgsizeLg2 = 0;
    this.leafLevels = 0;
    this.tableLevels = 0;
    this.wide = false;
    if (this.freelist.length !== 0) this.freelist.length = 0;
  }

  /** iommu_iotlb_gather_add_range */
  addRange(iova: number, len: number): void {
    if (len <= 0) return;
    if (iova < this.start) this.start = iova;
    const last = iova + len - 1;
    if (last > this.end) this.end = last;
  }

  addLeaf(level: number, lg2: number): void {
    this.leafLevels |= 1 << level;
    if (lg2 > this.pgsizeLg2) this.pgsizeLg2 = lg2;
  }

  addTable(level: number, pa: number, order: number): void {
    this.tableLevels |= 1 << level;
    this.freelist.push(pa, order);
  }
}
