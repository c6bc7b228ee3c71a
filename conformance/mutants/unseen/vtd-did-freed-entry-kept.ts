/**
 * H8.4 — vtd-did-freed-entry-kept (drivers/iommu/intel/iommu.c
 * domain_detach_iommu / domain_attach_iommu).
 *
 * A VT-d paging domain gets its domain id (DID) on an IOMMU when it is first
 * attached there, and gives it back when its last device on that IOMMU
 * leaves; the per-IOMMU info lives in domain->iommu_array:
 *     info = xa_load(&domain->iommu_array, iommu->seq_id);
 *     if (--info->refcnt == 0) {
 *             ida_free(&iommu->domain_ida, info->did);
 *             xa_erase(&domain->iommu_array, iommu->seq_id);
 *             kfree(info);
 *     }
 * The fault returns the DID to the IDA but leaves the info in the xarray
 * (the xa_erase/kfree pair lost in a rework of the refcount). The next
 * attach of that domain finds it (xa_load → curr->refcnt++) and programs
 * the old DID again without allocating one — while the IDA, which was told
 * the DID is free, has meanwhile handed it to the next domain attached for
 * the first time.
 *
 * Consequence: two live domains tag their IOTLB and paging-structure cache
 * entries with the same DID. A device whose group left HWPT A (detached or
 * moved elsewhere) and later comes back to it shares the DID with the HWPT B
 * attached in between: a translation B's device cached is a hit for A's
 * device at the same IOVA, so A's device reads and writes pages of B's IOAS
 * (another device's memory, possibly another context's) where A maps
 * something else or nothing, and B's unmaps flush A's entries.
 *
 * Applied as: on the VT-d units the hardware tag (DID) follows
 * attach/detach lifetimes — freed, with the domain-selective flush the
 * detach issues, when a domain's last device leaves, and taken (lowest
 * freed first) by a domain's first attach — except that a domain that lost
 * its DID keeps using it when it is attached again.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import type { HwDomain } from '../../../impl/platform/hw.ts';
import type { IommuDomain, IommuGroup } from '../../../impl/platform/iommu.ts';
import { hwUnits, mutantImplementation, patchOwn } from '../harness.ts';

type SetGroupDomain = { setGroupDomain(g: IommuGroup, domain: IommuDomain): void };

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('vtd-did-freed-entry-kept', profile, {
    machine: (m) => {
      const hw = hwUnits(m).find((h) => h.vendor === 'vtd');
      if (!hw) return;
      /** DIDs returned to the IDA (ida_free), lowest first out. */
      const freed = new Set<number>();
      /** Domains that have had a DID on this IOMMU (the xarray still has their info: the fault). */
      const hadDid = new Set<HwDomain>();
      const refcnt = new Map<HwDomain, number>();
      const ctxOf = new Map<number, HwDomain>();
      const setTag = (d: HwDomain, did: number): void => {
        (d as unknown as { tag: number }).tag = did;
      };
      // domain_attach_iommu: the first attach takes the lowest free DID.
      patchOwn(m as unknown as SetGroupDomain, 'setGroupDomain', (set) => (g, domain) => {
        const d = domain.hw;
        if (d && d.inst === hw && !hadDid.has(d) && g.devices.length > 0) {
          hadDid.add(d);
          if (freed.size > 0) {
            const did = Math.min(...freed);
            freed.delete(did);
            setTag(d, did);
          }
        }
        set(g, domain);
      });
      // Reference counts per domain: the last device to leave frees the DID.
      patchOwn(hw, 'attach', (attach) => (sid: number, domain: HwDomain | null, pasid = 0) => {
        const key = sid * 1048576 + pasid;
        const prev = ctxOf.get(key);
        const rc = attach(sid, domain, pasid);
        if (domain !== null) {
          ctxOf.set(key, domain);
          refcnt.set(domain, (refcnt.get(domain) ?? 0) + 1);
        } else {
          ctxOf.delete(key);
        }
        if (prev !== undefined) {
          const n = (refcnt.get(prev) ?? 1) - 1;
          refcnt.set(prev, n);
          if (n === 0) {
            // domain_context_clear_one: the old DID is flushed, then ida_free(did) …
            hw.vtdDsi(prev.tag);
            freed.add(prev.tag);
            // THE FAULT: … but the info stays in domain->iommu_array: the domain keeps the DID.
          }
        }
        return rc;
      });
    },
  });
}
