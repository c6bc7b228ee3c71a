/**
 * The seam between the simulated machine and the IO page-table core
 * (impl/pagetable) and IOMMU hardware model (impl/iommu). Domains are real
 * hardware-format page tables in simulated physical memory
 * (impl/iommu/instance.ts Domain over impl/pagetable/table.ts IoPageTable, or
 * the 6.12 selftest's sparse mock table); device DMA is translated by the
 * IOMMU instance's walker through its IOTLB and walk cache, which only forget
 * entries on the vendor's invalidation commands.
 *
 * One hardware model per driver (vtd, amd, smmuv3, mock) is shared by the
 * units of that driver: a domain shared by two compatible units (vtd0, vtd2)
 * is invalidated in the one cache model both use, as Linux's per-domain
 * device lists flush every unit the domain is attached to.
 *
 * The IOVA / physical addresses are numbers (exact below 2^53).
 *
 * Public: HwDomain (re-export of impl/iommu Domain), HwIommu, hwCreateDomain,
 * hwTranslate, hwLookup, hwIotlbEntries, IOMMU_* prot bits, permString,
 * bestPgsize-free helpers minPgsize.
 */
import { Domain, IommuInstance as HwIommu, type DomainConfig, type Vendor } from '../iommu/instance.ts';
import { PhysMemory } from '../iommu/physmem.ts';
import { ACC_READ, ACC_WRITE, FAULT_NO_DOMAIN, FAULT_PERMISSION } from '../iommu/walker.ts';

export { Domain as HwDomain, HwIommu, PhysMemory as HwPhysMemory };
export type { DomainConfig, Vendor };

/** Linux IOMMU_READ/WRITE/CACHE/NOEXEC prot bits (include/linux/iommu.h), as the page-table core defines them. */
import { IOMMU_READ, IOMMU_WRITE } from '../pagetable/format.ts';
export { IOMMU_CACHE, IOMMU_NOEXEC, IOMMU_READ, IOMMU_WRITE } from '../pagetable/format.ts';

/** Lowest page size of a bitmap (the domain's IOVA granule). */
export function minPgsize(bitmap: bigint): number {
  for (let bit = 0; bit < 64; bit++) if ((bitmap >> BigInt(bit)) & 1n) return 2 ** bit;
  return 0;
}

/** Page-size bitmap of a hardware domain. */
export function hwPgsizeBitmap(d: Domain): bigint {
  let m = 0n;
  for (const s of d.pgsizes) m |= BigInt(s);
  return m;
}

/** domain_alloc: a domain of `cfg` on the driver's hardware model, or a negative errno. */
export function hwCreateDomain(hw: HwIommu, cfg: DomainConfig): Domain | number {
  const d = hw.createDomain(cfg);
  return d;
}

export type Translation =
  | { readonly ok: true; readonly pa: number }
  | { readonly ok: false; readonly fault: 'unmapped' | 'permission' | 'blocked' };

/** A device access through the unit: IOTLB, then a table walk (filling the IOTLB). */
export function hwTranslate(hw: HwIommu, sid: number, iova: number, write: boolean): Translation {
  const pa = hw.translate(sid, iova, write ? ACC_WRITE : ACC_READ);
  if (pa >= 0) return { ok: true, pa };
  if (-pa === FAULT_NO_DOMAIN) return { ok: false, fault: 'blocked' };
  if (-pa === FAULT_PERMISSION) return { ok: false, fault: 'permission' };
  return { ok: false, fault: 'unmapped' };
}

/**
 * Where iova lands in a domain and with which permissions: a software lookup of
 * the leaf (as iommu_iova_to_phys), not a device access — it fills no cache,
 * sets no accessed/dirty bit, and sees write-only leaves too.
 */
export function hwLookup(d: Domain, iova: number): { pa: number; read: boolean; write: boolean } | undefined {
  if (iova < d.apertureStart || iova > d.apertureLast) return undefined;
  const leaf = d.lookupLeaf(iova);
  if (leaf === null) return undefined;
  return { pa: leaf.pa + (iova - leaf.iova), read: (leaf.prot & IOMMU_READ) !== 0, write: (leaf.prot & IOMMU_WRITE) !== 0 };
}

/** One IOTLB entry as the adapter's `iotlb` observation reports it. */
export interface IotlbEntry {
  readonly tag: number;
  readonly iova: number;
  readonly pa: number;
  readonly size: number;
  readonly perm: string;
}

/** Valid IOTLB entries of a hardware model, sorted by tag and IOVA (the mock has no IOTLB). */
export function hwIotlbEntries(hw: HwIommu): IotlbEntry[] {
  const t = hw.iotlb;
  if (!t) return [];
  const out: IotlbEntry[] = [];
  const seen = new Set<string>();
  t.forEach((i) => {
    const tag = t.tag[i] as number;
    const iova = t.leafVa[i] as number;
    const key = `${tag}:${iova}`;
    if (seen.has(key)) return; // a large leaf is cached once per accessed key page
    seen.add(key);
    out.push({ tag, iova, pa: t.leafPa[i] as number, size: 2 ** (t.leafLg2[i] as number), perm: accString(t.perm[i] as number) });
  });
  return out.sort((a, b) => (a.tag === b.tag ? a.iova - b.iova : a.tag - b.tag));
}

function accString(perm: number): string {
  return `${perm & ACC_READ ? 'r' : '-'}${perm & ACC_WRITE ? 'w' : '-'}`;
}

export function permString(prot: number): string {
  return `${prot & IOMMU_READ ? 'r' : '-'}${prot & IOMMU_WRITE ? 'w' : '-'}`;
}
