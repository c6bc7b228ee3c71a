/**
 * vtd-iommu-array-shared-did — drivers/iommu/intel/iommu.c
 * domain_attach_iommu() / domain_detach_iommu() / domain_id_iommu().
 *
 * A VT-d domain has one domain id (DID) per DMAR unit it is attached to,
 * allocated from that unit's IDA on the domain's first attach there; the
 * per-unit info lives in domain->iommu_array, indexed by the unit's
 * system-unique sequence number:
 *
 *     curr = xa_load(&domain->iommu_array, iommu->seq_id);
 *     if (curr) {
 *             curr->refcnt++;
 *             return 0;
 *     }
 *     num = ida_alloc_range(&iommu->domain_ida, IDA_START_DID,
 *                           cap_ndoms(iommu->cap) - 1, GFP_KERNEL);
 *     ...
 *     curr = xa_cmpxchg(&domain->iommu_array, iommu->seq_id, NULL, info, GFP_ATOMIC);
 *
 * and domain_id_iommu() / domain_detach_iommu() look the info up the same
 * way (the DID programmed in the context / PASID entry, the DID of the cache
 * tags every flush uses, the DID freed when the unit's last device leaves).
 *
 * THE FAULT: the array is indexed by a per-unit value that is not unique
 * across units (iommu->segment, the PCI segment — the same for every DMAR
 * unit of one segment) in all three places. Attaching a domain to a second
 * unit finds the first unit's info: the refcount is raised and the domain
 * runs on the second unit with the DID the *first* unit's IDA handed out —
 * a DID the second unit's IDA never reserved and gives to its own next new
 * domain (the lowest free one, so typically the very same number). When the
 * last device leaves, the DID is freed into the IDA of whichever unit
 * detaches last.
 *
 * Consequence: two live domains — of different IOASes, possibly of
 * different iommufd contexts — share one DID on the second unit (vtd0 and
 * vtd2 are two compatible DMAR units here: an IOAS whose auto domain serves
 * devices behind both is what triggers it). The unit's IOTLB and
 * paging-structure caches cannot tell their entries apart: a translation one
 * device cached is a hit for the other device at the same IOVA, so it reads
 * and writes the other IOAS's pages (or stale pages the other IOAS already
 * unmapped and unpinned), and each domain's unmaps flush the other's entries.
 *
 * Applied as: on the VT-d units the hardware tag of a context follows the
 * kernel's per-unit DIDs (lowest free from 2 per unit, freed with a
 * domain-selective flush when the domain's last device on the unit leaves,
 * flushes sent with the DID of every unit the domain has devices on) — and
 * the per-domain info is found by a key every unit shares.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import type { HwDomain } from '../../../impl/platform/hw.ts';
import type { IotlbGather } from '../../../impl/pagetable/gather.ts';
import { hwUnits, mutantImplementation, patchOwn } from '../harness.ts';

const PASID_STRIDE = 1048576;
const IDA_START_DID = 2;
/** Tags of unit i are UNIT_TAG_BASE * (i + 1) + DID (the simulated units share one cache model). */
const UNIT_TAG_BASE = 1_000_000;
/** THE FAULT: the iommu_array index every unit maps to (iommu->segment instead of iommu->seq_id). */
const SHARED_KEY = 'segment0';

interface DeviceContext {
  domain: HwDomain;
  tag: number;
}

interface DomainInfo {
  did: number;
  refcnt: number;
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('vtd-iommu-array-shared-did', profile, {
    machine: (m) => {
      const hw = hwUnits(m).find((h) => h.vendor === 'vtd');
      if (!hw) return;
      const units = [...m.instances.values()].filter((i) => i.hw === hw).map((i) => i.name);
      const devices = (hw as unknown as { devices: Map<number, DeviceContext> }).devices;
      const usedTags = (m as unknown as { usedTags: Map<string, Map<number, string>> }).usedTags;
      /** iommu->domain_ida per unit. */
      const ida = new Map<string, Set<number>>(units.map((u) => [u, new Set<number>()]));
      /** domain->iommu_array: infos by key (the faulty key: one per domain). */
      const iommuArray = new Map<HwDomain, Map<string, DomainInfo>>();
      /** Devices of each domain per unit (the cache tags' users). */
      const users = new Map<HwDomain, Map<string, number>>();
      /** What each stream id is attached to, and behind which unit. */
      const attached = new Map<number, { domain: HwDomain; unit: string }>();

      const arrayKey = (_unit: string): string => SHARED_KEY; // THE FAULT: not iommu->seq_id
      const tagOf = (unit: string, did: number): number => UNIT_TAG_BASE * (units.indexOf(unit) + 1) + did;
      const infoOf = (d: HwDomain, unit: string): DomainInfo | undefined => iommuArray.get(d)?.get(arrayKey(unit));

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
      const detachIommu = (d: HwDomain, unit: string): void => {
        const arr = iommuArray.get(d);
        const info = arr?.get(arrayKey(unit));
        if (!arr || !info) return;
        if (--info.refcnt === 0) {
          ida.get(unit)?.delete(info.did); // ida_free(&iommu->domain_ida, info->did): the detaching unit's IDA
          arr.delete(arrayKey(unit));
        }
      };
      const bumpUsers = (d: HwDomain, unit: string, by: number): number => {
        let per = users.get(d);
        if (!per) users.set(d, (per = new Map()));
        const n = (per.get(unit) ?? 0) + by;
        if (n > 0) per.set(unit, n);
        else per.delete(unit);
        return n;
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

      patchOwn(hw, 'attach', (attach) => (sid: number, domain: HwDomain | null, pasid = 0) => {
        const key = sid * PASID_STRIDE + pasid;
        const prev = attached.get(key);
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
        } else {
          attached.delete(key);
        }
        if (prev !== undefined) {
          // device_block_translation / the replaced context: flush did_old on the unit, drop the device, domain_detach_iommu
          const info = infoOf(prev.domain, prev.unit);
          if (info) hw.vtdDsi(tagOf(prev.unit, info.did));
          bumpUsers(prev.domain, prev.unit, -1);
          detachIommu(prev.domain, prev.unit);
        }
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
    },
  });
}
