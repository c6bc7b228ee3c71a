/**
 * Shared by the faults in VT-d's per-unit domain ids (drivers/iommu/intel/
 * iommu.c: domain_attach_iommu, domain_detach_iommu, domain_id_iommu): the
 * simulated VT-d units tag a device's context with the kernel's DIDs instead
 * of one tag per domain — the lowest free from IDA_START_DID in each unit's
 * IDA, taken on the domain's first attach behind the unit and freed when its
 * last device there leaves (after a domain-selective flush of the old DID),
 * every flush of the domain sent with its DID on each unit it has devices on.
 * Three steps: the key of domain->iommu_array (the kernel's iommu->seq_id:
 * the unit), whether the DID goes back to the IDA before the reference count
 * is looked at, and whether the old context is torn down before the new
 * domain is attached (device_block_translation first, as
 * intel_iommu_attach_device does) or after (a replaced context).
 */
import type { Machine } from '../../../impl/platform/index.ts';
import type { HwDomain } from '../../../impl/platform/hw.ts';
import type { IotlbGather } from '../../../impl/pagetable/gather.ts';
import { hwUnits, patchOwn } from '../harness.ts';

const PASID_STRIDE = 1048576;
const IDA_START_DID = 2;
/** Tags of unit i are UNIT_TAG_BASE * (i + 1) + DID (the simulated units share one cache model). */
const UNIT_TAG_BASE = 1_000_000;

interface DeviceContext {
  domain: HwDomain;
  tag: number;
}

/** struct iommu_domain_info */
interface DomainInfo {
  did: number;
  refcnt: number;
}

export interface DidSteps {
  /** The index of domain->iommu_array for a unit (the kernel's: the unit's seq_id, one per unit). */
  readonly arrayKey?: (unit: string) => string;
  /** domain_detach_iommu frees the DID before `--info->refcnt == 0` is tested (the kernel's: inside the test). */
  readonly freesBeforeRefcount?: boolean;
  /** The old context goes before the new domain is attached (device_block_translation first), not after. */
  readonly blocksFirst?: boolean;
}

/** Puts the per-unit DIDs, with the given steps, on the machine's VT-d units (if it has any). */
export function vtdPerUnitDids(m: Machine, steps: DidSteps): void {
  const hw = hwUnits(m).find((h) => h.vendor === 'vtd');
  if (!hw) return;
  const arrayKey = steps.arrayKey ?? ((unit: string) => unit);
  const units = [...m.instances.values()].filter((i) => i.hw === hw).map((i) => i.name);
  const devices = (hw as unknown as { devices: Map<number, DeviceContext> }).devices;
  const usedTags = (m as unknown as { usedTags: Map<string, Map<number, string>> }).usedTags;
  /** iommu->domain_ida of each unit: the DIDs it has handed out. */
  const ida = new Map<string, Set<number>>(units.map((u) => [u, new Set<number>()]));
  /** domain->iommu_array, by arrayKey. */
  const iommuArray = new Map<HwDomain, Map<string, DomainInfo>>();
  /** Devices of each domain per unit (the cache tags' users). */
  const users = new Map<HwDomain, Map<string, number>>();
  /** What each stream id is attached to, and behind which unit. */
  const attached = new Map<number, { domain: HwDomain; unit: string }>();

  const tagOf = (unit: string, did: number): number => UNIT_TAG_BASE * (units.indexOf(unit) + 1) + did;
  /** domain_id_iommu's lookup */
  const infoOf = (d: HwDomain, unit: string): DomainInfo | undefined => iommuArray.get(d)?.get(arrayKey(unit));

  /** domain_attach_iommu */
  const attachIommu = (d: HwDomain, unit: string): DomainInfo => {
    let arr = iommuArray.get(d);
    if (!arr) iommuArray.set(d, (arr = new Map()));
    const curr = arr.get(arrayKey(unit));
    if (curr) {
      curr.refcnt++;
      return curr;
    }
    const used = ida.get(unit) as Set<number>;
    let did = IDA_START_DID;
    while (used.has(did)) did++;
    used.add(did);
    const info = { did, refcnt: 1 };
    arr.set(arrayKey(unit), info);
    return info;
  };
  /** domain_detach_iommu: ida_free into the detaching unit's IDA. */
  const detachIommu = (d: HwDomain, unit: string): void => {
    const arr = iommuArray.get(d);
    const info = arr?.get(arrayKey(unit));
    if (!arr || !info) return;
    if (steps.freesBeforeRefcount) ida.get(unit)?.delete(info.did);
    if (--info.refcnt === 0) {
      if (!steps.freesBeforeRefcount) ida.get(unit)?.delete(info.did);
      arr.delete(arrayKey(unit));
    }
  };
  const bumpUsers = (d: HwDomain, unit: string, by: number): void => {
    let per = users.get(d);
    if (!per) users.set(d, (per = new Map()));
    const n = (per.get(unit) ?? 0) + by;
    if (n > 0) per.set(unit, n);
    else per.delete(unit);
  };
  /** The tags a flush of d goes to: each unit with devices of d, with d's DID there. */
  const flushTags = (d: HwDomain): number[] => {
    const out: number[] = [];
    for (const unit of users.get(d)?.keys() ?? []) {
      const info = infoOf(d, unit);
      if (info) out.push(tagOf(unit, info.did));
    }
    return out;
  };
  /** device_block_translation / the replaced context: flush the old DID on the unit, drop the device, domain_detach_iommu. */
  const leave = (prev: { domain: HwDomain; unit: string }): void => {
    const info = infoOf(prev.domain, prev.unit);
    if (info) hw.vtdDsi(tagOf(prev.unit, info.did));
    bumpUsers(prev.domain, prev.unit, -1);
    detachIommu(prev.domain, prev.unit);
  };

  patchOwn(hw, 'attach', (attach) => (sid: number, domain: HwDomain | null, pasid = 0) => {
    const key = sid * PASID_STRIDE + pasid;
    const prev = attached.get(key);
    attached.delete(key);
    if (prev !== undefined && steps.blocksFirst) leave(prev);
    const rc = attach(sid, domain, pasid);
    if (domain !== null) {
      const unit = m.device(sid)?.iommu.name ?? prev?.unit;
      if (unit !== undefined && units.includes(unit)) {
        // dmar_domain_attach_device: domain_attach_iommu, then the context / PASID entry with domain_id_iommu()
        const info = attachIommu(domain, unit);
        bumpUsers(domain, unit, 1);
        const t = tagOf(unit, info.did);
        const ctx = devices.get(key);
        if (ctx) ctx.tag = t;
        const labels = usedTags.get(unit);
        if (labels) labels.set(t, labels.get(domain.tag) ?? `#${domain.tag}`);
        attached.set(key, { domain, unit });
      }
    }
    if (prev !== undefined && !steps.blocksFirst) leave(prev);
    return rc;
  });

  // cache_tag_flush_range / _all: one command per cache tag of the domain, with that unit's DID.
  patchOwn(hw, 'flushGather', (flush) => (d: HwDomain, g: IotlbGather) => {
    const tags = flushTags(d);
    if (tags.length === 0) return flush(d, g);
    for (const t of tags) flush(Object.create(d, { tag: { value: t } }) as HwDomain, g);
  });

  patchOwn(hw, 'forgetDomain', (forget) => (d: HwDomain) => {
    for (const t of flushTags(d)) hw.vtdDsi(t);
    forget(d);
    iommuArray.delete(d);
    users.delete(d);
  });
}
