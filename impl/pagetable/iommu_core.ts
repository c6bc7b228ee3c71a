/**
 * The iommu core's map/unmap loops for drivers with map_pages/unmap_pages
 * (drivers/iommu/iommu.c: iommu_pgsize, __iommu_map_domain_pgtbl (7.3) /
 * __iommu_map (6.12), __iommu_unmap_domain_pgtbl (7.3) / __iommu_unmap
 * (6.12)). generic_pt domains (7.3) bypass them: iommu_map calls map_range
 * directly. Both profiles' loops behave the same for a page table:
 *   map:   iova, paddr and size must be multiples of the smallest page (-EINVAL);
 *          iommu_pgsize picks the largest page size the alignment and size
 *          allow, and how many, stopping where the next size becomes usable;
 *          map_pages maps some of them and reports how many bytes; on error
 *          the caller undoes what was mapped (iommu_map_nosync / __iommu_map).
 *   unmap: iova and size multiples of the smallest page (else 0); unmap_pages
 *          until `size` is covered or it returns 0.
 */
import { EINVAL } from '../lib/errno.ts';
import { ctz, flsLg2, modPow2, POW2 } from './pgsize.ts';

/** A driver the loops call (io-pgtable ops behind the IOMMU driver's map_pages/unmap_pages). */
export interface PagesDriver {
  /** pgsize_bitmap as ascending lg2 list. */
  readonly pgsizeList: readonly number[];
  /** map_pages: returns 0 / -errno, bytes mapped in `pagesMapped`. */
  mapPages(iova: number, paddr: number, pgsizeLg2: number, pgcount: number, prot: number): number;
  pagesMapped: number;
  /** unmap_pages: bytes unmapped. */
  unmapPages(iova: number, pgsizeLg2: number, pgcount: number): number;
  /** Bytes the last iommuMapLoop mapped, also on failure (the iommu core's `mapped`). */
  mapped: number;
}

/** The count iommuPgsize chose (returned beside the size to keep the loop allocation free). */
let pgCount = 0;

/**
 * iommu_pgsize: lg2 of the page size for [iova, iova+size) at paddr, the count
 * in pgCount. The caller has checked alignment to the smallest size.
 */
export function iommuPgsizeLg2(sizes: readonly number[], iova: number, paddr: number, size: number): number {
  const maxLg2 = flsLg2(size);
  const a = ctz(iova);
  const b = ctz(paddr);
  const alignLg2 = a < b ? a : b;
  let pg = -1;
  let next = -1;
  for (let i = 0; i < sizes.length; i++) {
    const s = sizes[i] as number;
    if (s <= maxLg2 && s <= alignLg2) pg = s;
    else if (pg >= 0 && s > pg) {
      next = s;
      break;
    }
  }
  if (pg < 0) {
    pgCount = 0;
    return 0;
  }
  let sz = size;
  if (next >= 0) {
    const P = POW2[next] as number;
    const io = modPow2(iova, P);
    // No point in a bigger page unless iova and paddr are offset alike within it.
    if (io === modPow2(paddr, P)) {
      const offset = P - io;
      if (offset + P <= size) sz = offset;
    }
  }
  pgCount = Math.floor(sz / (POW2[pg] as number));
  return pg;
}

/** __iommu_map_domain_pgtbl / __iommu_map without the undo: 0 or -errno, progress in d.mapped. */
export function iommuMapLoop(d: PagesDriver, iova: number, paddr: number, size: number, prot: number): number {
  d.mapped = 0;
  const sizes = d.pgsizeList;
  const min = POW2[sizes[0] as number] as number;
  if (modPow2(iova, min) !== 0 || modPow2(paddr, min) !== 0 || modPow2(size, min) !== 0) return -EINVAL;
  while (size > 0) {
    const pg = iommuPgsizeLg2(sizes, iova, paddr, size);
    const count = pgCount;
    d.pagesMapped = 0;
    const rc = d.mapPages(iova, paddr, pg, count, prot);
    const done = d.pagesMapped;
    d.mapped += done;
    if (rc !== 0) return rc;
    size -= done;
    iova += done;
    paddr += done;
  }
  return 0;
}

/** __iommu_unmap_domain_pgtbl / __iommu_unmap: bytes unmapped. */
export function iommuUnmapLoop(d: PagesDriver, iova: number, size: number): number {
  const sizes = d.pgsizeList;
  const min = POW2[sizes[0] as number] as number;
  if (modPow2(iova, min) !== 0 || modPow2(size, min) !== 0) return 0;
  let unmapped = 0;
  while (unmapped < size) {
    const pg = iommuPgsizeLg2(sizes, iova, iova, size - unmapped);
    const n = d.unmapPages(iova, pg, pgCount);
    if (n === 0) break;
    iova += n;
    unmapped += n;
  }
  return unmapped;
}

/** ctz for u64 bigints (64 for 0). */
function ctzBig(x: bigint): number {
  if (x === 0n) return 64;
  let n = 0;
  while ((x & 1n) === 0n) {
    x >>= 1n;
    n++;
  }
  return n;
}

/**
 * Bytes of [iova, iova+size) the iommu core's map loop would hand to
 * map_pages in chunks that end at or below `limit` before the first chunk
 * that does not (iommu_pgsize on u64 values; wide IOVAs only).
 */
export function iommuChunksBelow(sizes: readonly number[], iova: bigint, paddr: bigint, size: bigint, limit: bigint): bigint {
  let done = 0n;
  while (size > 0n) {
    let maxLg2 = 0;
    for (let s = size; s > 1n; s >>= 1n) maxLg2++;
    const align = Math.min(ctzBig(iova), ctzBig(paddr));
    let pg = -1;
    let next = -1;
    for (const s of sizes) {
      if (s <= maxLg2 && s <= align) pg = s;
      else if (pg >= 0 && s > pg) {
        next = s;
        break;
      }
    }
    if (pg < 0) return done;
    let sz = size;
    if (next >= 0) {
      const P = 1n << BigInt(next);
      if (iova % P === paddr % P) {
        const offset = P - (iova % P);
        if (offset + P <= size) sz = offset;
      }
    }
    const chunk = (sz >> BigInt(pg)) << BigInt(pg);
    if (iova + chunk > limit) return done;
    done += chunk;
    iova += chunk;
    paddr += chunk;
    size -= chunk;
  }
  return done;
}
