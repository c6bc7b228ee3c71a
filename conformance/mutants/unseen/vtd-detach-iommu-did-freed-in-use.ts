/**
 * vtd-detach-iommu-did-freed-in-use — drivers/iommu/intel/iommu.c
 * domain_detach_iommu() (with domain_attach_iommu(), device_block_translation()).
 *
 * A VT-d paging domain gets one domain id (DID) per DMAR unit, from that
 * unit's IDA, when its first device behind the unit attaches; every further
 * device of the unit only takes a reference, and the DID goes back to the
 * IDA when the last of them leaves:
 *
 *     void domain_detach_iommu(struct dmar_domain *domain, struct intel_iommu *iommu)
 *     {
 *             struct iommu_domain_info *info;
 *             ...
 *             guard(mutex)(&iommu->did_lock);
 *             info = xa_load(&domain->iommu_array, iommu->seq_id);
 *             if (--info->refcnt == 0) {
 *                     ida_free(&iommu->domain_ida, info->did);
 *                     xa_erase(&domain->iommu_array, iommu->seq_id);
 *                     kfree(info);
 *             }
 *     }
 *
 * (6.12: clear_bit(info->did, iommu->domain_ids) in the same block.)
 *
 * THE FAULT: the DID is released before the reference count is looked at —
 * ida_free() hoisted above the `if` (as when the free was made unconditional
 * "because the last user frees the info anyway"):
 *
 *             info = xa_load(&domain->iommu_array, iommu->seq_id);
 *             ida_free(&iommu->domain_ida, info->did);
 *             if (--info->refcnt == 0) {
 *                     xa_erase(&domain->iommu_array, iommu->seq_id);
 *                     kfree(info);
 *             }
 *
 * With one device per domain nothing changes. With two devices of the same
 * unit on one domain (two groups attached to one IOAS share its automatic
 * HWPT), detaching or replacing the first one returns the DID to the IDA
 * while the second device's context entry still carries it; the next domain
 * that gets a DID on that unit — the lowest free one, so this one — runs
 * under the same DID as the live first domain.
 *
 * Consequence: two live domains — two IOASes, possibly two iommufd contexts —
 * share a DID on the unit; the IOTLB cannot tell their translations apart. A
 * translation cached by a device of one domain is a hit for a device of the
 * other at the same IOVA, so that device reads and writes the first IOAS's
 * pages (isolation), and each domain's flushes hit the other's entries.
 *
 * Applied as: on the VT-d units the hardware tag of a context follows the
 * kernel's per-unit DIDs (lowest free from 2 per unit; domain_id_iommu() for
 * the context entry and the cache tags; device_block_translation() flushes
 * the old DID domain-selectively before domain_detach_iommu(), and runs
 * before the new domain is attached, as intel_iommu_attach_device does).
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import type { HwDomain } from '../../../impl/platform/hw.ts';
import type { IotlbGather } from '../../../impl/pagetable/gather.ts';
import { hwUnits, mutantImplementation, patchOwn } from '../harness.ts';

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

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('vtd-detach-iommu-did-freed-in-use', profile, {
    machine: (m) => {
      const hw = hwUnits(m).find((h) => h.vendor === 'vtd');
      if (!hw) return;
      const units = [...m.instances.values()].filter((i) => i.hw === hw).map((i) => i.name);
      const devices = (hw as unknown as { devices: Map<number, DeviceContext> }).devices;
      const usedTags = (m as unknown as { usedTags: Map<string, Map<number, string>> }).usedTags;
      /** iommu->domain_ida of each unit: the DIDs it has handed out. */
      const ida = new Map<string, Set<number>>(units.map((u) => [u, new Set<number>()]));
      /** domain->iommu_array, keyed by the unit (iommu->seq_id). */
      const iommuArray = new Map<HwDomain, Map<string, DomainInfo>>();
      /** What each stream id is attached to, and behind which unit. */
      const attached = new Map<number, { domain: HwDomain; unit: string }>();

      const tagOf = (unit: string, did: number): number => UNIT_TAG_BASE * (units.indexOf(unit) + 1) + did;

      /** domain_attach_iommu */
      const attachIommu = (d: HwDomain, unit: string): DomainInfo => {
        let arr = iommuArray.get(d);
        if (!arr) iommuArray.set(d, (arr = new Map()));
        const curr = arr.get(unit);
        if (curr) {
          curr.refcnt++;
          return curr;
        }
        const used = ida.get(unit) as Set<number>;
        let did = IDA_START_DID;
        while (used.has(did)) did++;
        used.add(did);
        const info = { did, refcnt: 1 };
        arr.set(unit, info);
        return info;
      };

      /** domain_detach_iommu, with the fault. */
      const detachIommu = (d: HwDomain, unit: string): void => {
        const arr = iommuArray.get(d);
        const info = arr?.get(unit);
        if (!arr || !info) return;
        ida.get(unit)?.delete(info.did); // THE FAULT: ida_free() before the refcount test
        if (--info.refcnt === 0) arr.delete(unit);
      };

      /** The cache tags of d: its DID on each unit it has devices on. */
      const flushTags = (d: HwDomain): number[] => {
        const out: number[] = [];
        for (const [unit, info] of iommuArray.get(d) ?? []) out.push(tagOf(unit, info.did));
        return out;
      };

      patchOwn(hw, 'attach', (attach) => (sid: number, domain: HwDomain | null, pasid = 0) => {
        const key = sid * PASID_STRIDE + pasid;
        const prev = attached.get(key);
        if (prev !== undefined) {
          // device_block_translation: tear the context down, flush the old DID, domain_detach_iommu.
          const info = iommuArray.get(prev.domain)?.get(prev.unit);
          if (info) hw.vtdDsi(tagOf(prev.unit, info.did));
          detachIommu(prev.domain, prev.unit);
          attached.delete(key);
        }
        const rc = attach(sid, domain, pasid);
        if (domain !== null) {
          const unit = m.device(sid)?.iommu.name ?? prev?.unit;
          if (unit !== undefined && units.includes(unit)) {
            // dmar_domain_attach_device: domain_attach_iommu, then the context entry with domain_id_iommu()
            const info = attachIommu(domain, unit);
            const t = tagOf(unit, info.did);
            const ctx = devices.get(key);
            if (ctx) ctx.tag = t;
            const labels = usedTags.get(unit);
            if (labels) labels.set(t, labels.get(domain.tag) ?? `#${domain.tag}`);
            attached.set(key, { domain, unit });
          }
        }
        return rc;
      });

      // cache_tag_flush_range: one command per cache tag of the domain, with that unit's DID.
      patchOwn(hw, 'flushGather', (flush) => (d: HwDomain, g: IotlbGather) => {
        const tags = flushTags(d);
        if (tags.length === 0) return flush(d, g);
        for (const t of tags) flush(Object.create(d, { tag: { value: t } }) as HwDomain, g);
      });

      patchOwn(hw, 'forgetDomain', (forget) => (d: HwDomain) => {
        for (const t of flushTags(d)) hw.vtdDsi(t);
        forget(d);
        iommuArray.delete(d);
      });
    },
  });
}
