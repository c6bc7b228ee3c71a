/**
 * The seam between the simulated machine and the IO page-table core / IOMMU
 * hardware (impl/pagetable, impl/iommu). Everything the platform needs from
 * them goes through the two interfaces below, so swapping the provider is a
 * change in this file only.
 *
 *   IoPageTable  — one domain's translation table (Linux's iommu_domain_ops
 *                  map_pages/unmap_pages/iova_to_phys contract): map is
 *                  all-or-nothing, unmap never splits a leaf and returns the
 *                  bytes unmapped.
 *   IommuHw      — one IOMMU unit: translates a device access through a table,
 *                  caching leaves in its IOTLB (tagged by domain id) until
 *                  invalidated.
 *
 * Addresses and sizes are plain numbers (hot path): every aperture the
 * platform offers ends below 2^53.
 *
 * Provider: until the page-table core lands, `createIoPageTable` returns a
 * flat leaf table (a map from IO page to frame). It honours the format's page
 * sizes and the map/unmap contract but has no PTE bytes in physical memory; it
 * is replaced by the real formats as soon as impl/pagetable exports them.
 */
import { EADDRINUSE, EINVAL, ENOMEM } from '../iommufd/errno.ts';

/** Linux IOMMU_READ/WRITE/CACHE/NOEXEC prot bits (include/linux/iommu.h). */
export const IOMMU_READ = 1;
export const IOMMU_WRITE = 2;
export const IOMMU_CACHE = 4;
export const IOMMU_NOEXEC = 8;
/** Simulation-internal PTE bit: the leaf forces snooping (VT-d SNP, AMD FC). */
export const IOMMU_PTE_SNP = 0x100;

export interface IoPageTableConfig {
  /** Format name, e.g. 'mock', 'amdv1-mock', 'vtd-ss', 'amd-v1', 'arm-s1-4k'. */
  readonly format: string;
  /** Page sizes the table can map (bit n = 2^n bytes). */
  readonly pgsizeBitmap: bigint;
  /** Highest mappable IOVA + 1 (2^ias). */
  readonly iovaLimit: number;
  /** Fallible-step hook (fail_nth): table-page allocations consult it. */
  readonly shouldFail?: () => boolean;
}

export interface Leaf {
  readonly iova: number; // start of the leaf
  readonly size: number;
  readonly pa: number; // physical address of the leaf start
  readonly prot: number;
}

export interface IoPageTable {
  readonly config: IoPageTableConfig;
  /** Map [iova, iova+size) to [pa, ...) with prot; 0 or errno, nothing left mapped on failure. */
  map(iova: number, pa: number, size: number, prot: number): number;
  /** Unmap leaves starting in [iova, iova+size); returns bytes unmapped. */
  unmap(iova: number, size: number): number;
  /** The leaf covering iova, if any. */
  lookup(iova: number): Leaf | undefined;
  /** Physical address for iova, or -1. */
  iovaToPhys(iova: number): number;
  /** Table pages currently allocated (leak checks). */
  readonly tablePages: number;
  /** Bytes currently mapped. */
  readonly mappedBytes: number;
  destroy(): void;
}

/** The best page size for mapping [iova, pa, size) — the low bits of iova|pa and size bound it (iommu_pgsize). */
export function bestPgsize(bitmap: bigint, iova: number, pa: number, size: number): number {
  let best = 0;
  for (let bit = 0; bit < 53; bit++) {
    if (((bitmap >> BigInt(bit)) & 1n) === 0n) continue;
    const pg = 2 ** bit;
    if (pg > size) break;
    if (iova % pg !== 0 || pa % pg !== 0) break;
    best = pg;
  }
  return best;
}

/** Lowest page size of a bitmap (the domain's IOVA granule). */
export function minPgsize(bitmap: bigint): number {
  for (let bit = 0; bit < 64; bit++) if ((bitmap >> BigInt(bit)) & 1n) return 2 ** bit;
  return 0;
}

/** Interim provider: leaves in a sorted map keyed by IO page (see header). */
class FlatLeafTable implements IoPageTable {
  private readonly leaves = new Map<number, Leaf>(); // key: leaf iova / granule
  private readonly granule: number;
  mappedBytes = 0;
  tablePages = 1;

  constructor(readonly config: IoPageTableConfig) {
    this.granule = minPgsize(config.pgsizeBitmap);
  }

  map(iova: number, pa: number, size: number, prot: number): number {
    const g = this.granule;
    if (size === 0 || iova % g !== 0 || pa % g !== 0 || size % g !== 0) return EINVAL;
    if (iova + size > this.config.iovaLimit) return EINVAL;
    for (let cur = iova; cur < iova + size; cur += g) if (this.lookup(cur)) return EADDRINUSE;
    if (this.config.shouldFail?.()) return ENOMEM;
    let done = 0;
    while (done < size) {
      const pg = bestPgsize(this.config.pgsizeBitmap, iova + done, pa + done, size - done);
      if (pg === 0) {
        this.unmap(iova, done);
        return EINVAL;
      }
      const leaf: Leaf = { iova: iova + done, size: pg, pa: pa + done, prot };
      for (let cur = leaf.iova; cur < leaf.iova + pg; cur += g) this.leaves.set(cur / g, leaf);
      done += pg;
    }
    this.mappedBytes += size;
    return 0;
  }

  unmap(iova: number, size: number): number {
    const g = this.granule;
    let unmapped = 0;
    let cur = iova - (iova % g);
    while (cur < iova + size) {
      const leaf = this.leaves.get(cur / g);
      if (!leaf) {
        cur += g;
        continue;
      }
      for (let p = leaf.iova; p < leaf.iova + leaf.size; p += g) this.leaves.delete(p / g);
      unmapped += leaf.size;
      cur = leaf.iova + leaf.size;
    }
    this.mappedBytes -= unmapped;
    return unmapped;
  }

  lookup(iova: number): Leaf | undefined {
    return this.leaves.get(Math.floor(iova / this.granule));
  }

  iovaToPhys(iova: number): number {
    const leaf = this.lookup(iova);
    return leaf ? leaf.pa + (iova - leaf.iova) : -1;
  }

  destroy(): void {
    this.leaves.clear();
    this.mappedBytes = 0;
    this.tablePages = 0;
  }
}

export function createIoPageTable(config: IoPageTableConfig): IoPageTable {
  return new FlatLeafTable(config);
}

/** One IOTLB entry as the adapter's `iotlb` observation reports it. */
export interface IotlbEntry {
  readonly tag: string;
  readonly iova: number;
  readonly pa: number;
  readonly size: number;
  readonly perm: string;
}

export type Translation =
  | { readonly ok: true; readonly pa: number; readonly leaf: Leaf }
  | { readonly ok: false; readonly fault: 'unmapped' | 'permission' };

/**
 * One IOMMU unit's translation path: IOTLB lookup, else a walk of the table,
 * filling the IOTLB. Entries stay until `invalidate` (the driver flushes on
 * unmap and on domain detach) — so a missing flush would be visible as a stale
 * translation, as on hardware.
 */
export class IommuHw {
  private readonly iotlb = new Map<string, Leaf & { readonly tag: string }>();

  translate(tag: string, table: IoPageTable, iova: number, write: boolean): Translation {
    const granule = minPgsize(table.config.pgsizeBitmap);
    const key = (leafIova: number) => `${tag}:${leafIova}`;
    let hit: (Leaf & { readonly tag: string }) | undefined;
    for (const e of this.iotlb.values()) {
      if (e.tag === tag && iova >= e.iova && iova < e.iova + e.size) {
        hit = e;
        break;
      }
    }
    let leaf: Leaf | undefined = hit;
    if (!leaf) {
      leaf = table.lookup(iova - (iova % granule));
      if (!leaf) return { ok: false, fault: 'unmapped' };
      this.iotlb.set(key(leaf.iova), { ...leaf, tag });
    }
    const need = write ? IOMMU_WRITE : IOMMU_READ;
    if ((leaf.prot & need) === 0) return { ok: false, fault: 'permission' };
    return { ok: true, pa: leaf.pa + (iova - leaf.iova), leaf };
  }

  /** Drop cached entries of `tag` overlapping [iova, iova+size) (all of the tag when size is omitted). */
  invalidate(tag: string, iova = 0, size = Number.MAX_SAFE_INTEGER): void {
    for (const [k, e] of this.iotlb) {
      if (e.tag !== tag) continue;
      if (e.iova + e.size <= iova || e.iova >= iova + size) continue;
      this.iotlb.delete(k);
    }
  }

  entries(): IotlbEntry[] {
    return [...this.iotlb.values()]
      .sort((a, b) => (a.tag === b.tag ? a.iova - b.iova : a.tag < b.tag ? -1 : 1))
      .map((e) => ({ tag: e.tag, iova: e.iova, pa: e.pa, size: e.size, perm: permString(e.prot) }));
  }
}

export function permString(prot: number): string {
  return `${prot & IOMMU_READ ? 'r' : '-'}${prot & IOMMU_WRITE ? 'w' : '-'}${prot & IOMMU_CACHE ? 'c' : '-'}${prot & IOMMU_PTE_SNP ? 's' : '-'}`;
}
