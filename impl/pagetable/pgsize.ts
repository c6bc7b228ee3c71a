/**
 * Page-size arithmetic on plain numbers (exact below 2^53; no BigInt).
 */

/** Count of trailing zero bits of a non-negative integer (64 for 0). */
export function ctz(x: number): number {
  if (x === 0) return 64;
  const lo = x >>> 0;
  if (lo !== 0) return 31 - Math.clz32(lo & -lo);
  const hi = Math.floor(x / 4294967296) >>> 0;
  return 32 + 31 - Math.clz32(hi & -hi);
}

/** floor(log2(x)) for x >= 1. */
export function flsLg2(x: number): number {
  if (x < 4294967296) return 31 - Math.clz32(x >>> 0);
  return 32 + 31 - Math.clz32(Math.floor(x / 4294967296) >>> 0);
}

/**
 * pt_compute_best_pgsize (generic_pt/pt_iter.h): the largest size in `sizes`
 * (ascending lg2 list) not larger than the largest power of two <= length and
 * to which both va and oa are aligned. 0 when none fits.
 */
export function bestPgsizeLg2(sizes: readonly number[], va: number, last: number, oa: number): number {
  if (last < va) return 0;
  const len = last - va + 1;
  let best = flsLg2(len);
  const a = ctz(va);
  if (a < best) best = a;
  const b = ctz(oa);
  if (b < best) best = b;
  for (let i = sizes.length - 1; i >= 0; i--) {
    const s = sizes[i] as number;
    if (s <= best) return s;
  }
  return 0;
}

/**
 * iommu_pgsize (drivers/iommu/iommu.c): the page size the iommu core passes to
 * a driver's map_pages/unmap_pages and how many of them, stopping early where
 * the next larger size becomes usable. Returns [pgsizeLg2, count] or [0, 0].
 */
export function iommuPgsize(sizes: readonly number[], iova: number, paddr: number, size: number): [number, number] {
  // Page sizes supported by the hardware and small enough for `size`, aligned for iova|paddr.
  const maxLg2 = flsLg2(size);
  const alignLg2 = Math.min(ctz(iova), ctz(paddr));
  let pg = 0;
  let found = false;
  for (const s of sizes) {
    if (s <= maxLg2 && s <= alignLg2) {
      pg = s;
      found = true;
    }
  }
  if (!found) return [0, 0];
  let sz = size;
  // Next bigger supported size: only worth it if iova and paddr share the offset in it.
  const next = sizes.find((s) => s > pg);
  if (next !== undefined) {
    const P = 2 ** next;
    if (iova % P === paddr % P) {
      const offset = P - (iova % P);
      if (offset + P <= size) sz = offset;
    }
  }
  return [pg, Math.floor(sz / 2 ** pg)];
}

/** 2^i for i in 0..63, as a table (a variable `2 ** x` is a Math.pow call on hot paths). */
export const POW2 = Float64Array.from({ length: 64 }, (_, i) => 2 ** i);

/** x mod p for a power of two p and 0 <= x < 2^53, without fmod. */
export function modPow2(x: number, p: number): number {
  if (p <= 2147483648) return (x >>> 0) & (p - 1);
  return x - Math.floor(x / p) * p;
}
