/**
 * vtd-teardown-sl-piotlb — drivers/iommu/intel/pasid.c
 * intel_pasid_tear_down_entry() (the same in 6.12 and 7.3), reached through
 * device_block_translation() whenever a device leaves a VT-d paging domain in
 * scalable mode: VFIO_DEVICE_DETACH_IOMMUFD_PT, a replacing
 * VFIO_DEVICE_ATTACH_IOMMUFD_PT (intel_iommu_attach_device blocks first), the
 * unbind that closing the device file performs, a device going away.
 *
 * Tearing down a PASID entry must flush what the IOMMU cached under the
 * entry's domain id, and the kind of invalidation depends on what the entry
 * translated: first-stage and pass-through translations are tagged with
 * (DID, PASID) and go with a PASID-based IOTLB invalidation; second-stage
 * translations are tagged with the DID only and need an IOTLB invalidation
 * (a P_IOTLB descriptor does not touch them, VT-d spec 6.5.2.4):
 *
 *     did = pasid_get_domain_id(pte);
 *     pgtt = pasid_pte_get_pgtt(pte);
 *     pasid_clear_present(pte);
 *     ...
 *     pasid_cache_invalidation_with_pasid(iommu, did, pasid);
 *
 *     if (pgtt == PASID_ENTRY_PGTT_PT || pgtt == PASID_ENTRY_PGTT_FL_ONLY)
 *             qi_flush_piotlb_all(iommu, did, pasid);
 *     else
 *             iommu->flush.flush_iotlb(iommu, did, 0, 0, DMA_TLB_DSI_FLUSH);
 *
 * THE FAULT: the test is turned around to "everything but nested uses the
 * PASID-granular flush" (a cleanup that wanted the cheaper P_IOTLB for all
 * PASID-tagged entries and took RID_PASID second-stage entries for such):
 *
 *     if (pgtt != PASID_ENTRY_PGTT_NESTED)
 *             qi_flush_piotlb_all(iommu, did, pasid);
 *     else
 *             iommu->flush.flush_iotlb(iommu, did, 0, 0, DMA_TLB_DSI_FLUSH);
 *
 * Every domain iommufd gives a VT-d device is a second-stage one
 * (PGTT_SL_ONLY: the units have no first-stage support), so a device leaving
 * its domain leaves the domain's IOTLB and paging-structure cache entries in
 * place. Nothing flushes them later: device_block_translation() goes on with
 * cache_tag_unassign_domain() and domain_detach_iommu(), so once the domain's
 * last device on the unit is gone its unmaps send no invalidation to the unit
 * (no cache tag is left), freeing the domain sends none either, and the
 * domain id goes back to the unit's IDA.
 *
 * Why it needs several commands and two objects: the device must first fill
 * the IOTLB (DMA through its domain), then leave the domain (detach, replace,
 * close), and only the *next* domain attached to the unit trips over it: the
 * IDA hands it the freed domain id (lowest free), and its device hits the old
 * domain's cached translations at every IOVA the first device used — reading
 * and writing the pages another IOAS (possibly another iommufd context) maps
 * there, or pages that IOAS has since unmapped and unpinned, at IOVAs its own
 * IOAS maps elsewhere or not at all. The same happens to the old domain
 * itself when a device comes back to it after an IOAS_UNMAP it was not told
 * about. Nothing is wrong while the first device stays attached, and
 * `translate` (the table walk of the domain the device is on) is right
 * throughout: only the device's DMA goes astray.
 *
 * Applied as (both profiles): on the VT-d units a domain holds a domain id
 * only while a device of it is attached — taken at its first attach (the
 * lowest id freed earlier, as ida_alloc_range() gives it) and given back when
 * its last device leaves, when the kernel tears the entry down with the
 * flush above; a domain without a device sends no invalidation (no cache
 * tag), neither for unmaps nor when it is freed. THE FAULT is the flush at
 * teardown: a PASID-granular invalidation that leaves the second-stage
 * entries of the DID cached. (vtd0 and vtd2 share one cache model here, so
 * the domain id space is the driver's rather than each unit's.)
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import type { HwDomain } from '../../../impl/platform/hw.ts';
import type { IommuDomain, IommuGroup } from '../../../impl/platform/iommu.ts';
import { hwUnits, mutantImplementation, patchOwn } from '../harness.ts';

type SetGroupDomain = { setGroupDomain(g: IommuGroup, domain: IommuDomain): void };

/** The fault switch: false gives the kernel's DSI at teardown (the reference's behaviour). */
const TEARDOWN_USES_PIOTLB = true;

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('vtd-teardown-sl-piotlb', profile, {
    machine: (m) => {
      const hw = hwUnits(m).find((h) => h.vendor === 'vtd');
      if (!hw) return;
      /** Domain ids given back to the IDA (ida_free), handed out lowest first. */
      const freeDids = new Set<number>();
      /** Devices (stream ids) attached per domain: the domain's hold on its id (info->refcnt). */
      const refcnt = new Map<HwDomain, number>();
      /** Domains whose id went back to the IDA: they need a new one at their next attach. */
      const released = new WeakSet<HwDomain>();
      const ctxOf = new Map<number, HwDomain>();
      const setTag = (d: HwDomain, did: number): void => {
        (d as unknown as { tag: number }).tag = did;
      };
      const users = (d: HwDomain): number => refcnt.get(d) ?? 0;

      // domain_attach_iommu: the domain's first device on the unit takes an id (lowest free).
      patchOwn(m as unknown as SetGroupDomain, 'setGroupDomain', (set) => (g, domain) => {
        const d = domain.hw;
        if (d && d.inst === hw && users(d) === 0 && g.devices.length > 0) {
          if (freeDids.size > 0) {
            const did = Math.min(...freeDids);
            freeDids.delete(did);
            setTag(d, did);
          } else if (released.has(d)) {
            setTag(d, hw.allocTag());
          }
          released.delete(d);
        }
        set(g, domain);
      });

      // The context/PASID entry of each device: attach counts, the last leave tears down and frees the id.
      patchOwn(hw, 'attach', (attach) => (sid: number, domain: HwDomain | null, pasid = 0) => {
        const key = sid * 1048576 + pasid;
        const prev = ctxOf.get(key);
        const rc = attach(sid, domain, pasid);
        if (domain !== null) {
          ctxOf.set(key, domain);
          refcnt.set(domain, users(domain) + 1);
        } else {
          ctxOf.delete(key);
        }
        if (prev !== undefined) {
          const n = users(prev) - 1;
          if (n > 0) {
            refcnt.set(prev, n);
          } else {
            refcnt.delete(prev);
            // intel_pasid_tear_down_entry(): pgtt is PASID_ENTRY_PGTT_SL_ONLY.
            if (TEARDOWN_USES_PIOTLB) {
              // THE FAULT: qi_flush_piotlb_all(iommu, did, pasid) — PASID-tagged entries only; the
              // DID's second-stage IOTLB and paging-structure cache entries stay.
              hw.invalidations++;
            } else {
              hw.vtdDsi(prev.tag); // iommu->flush.flush_iotlb(iommu, did, 0, 0, DMA_TLB_DSI_FLUSH)
            }
            // domain_detach_iommu(): ida_free(&iommu->domain_ida, info->did)
            freeDids.add(prev.tag);
            released.add(prev);
          }
        }
        return rc;
      });

      // cache_tag_flush_range(): a domain with no device on the unit has no cache tag there.
      patchOwn(hw, 'flushGather', (flush) => (d, g) => {
        if (d.inst === hw && released.has(d) && users(d) === 0) return;
        flush(d, g);
      });

      // intel_iommu_domain_free(): no flush; the id it held may be another domain's by now.
      patchOwn(hw, 'forgetDomain', (forget) => (d: HwDomain) => {
        if (!released.has(d) || users(d) !== 0) {
          forget(d);
          return;
        }
        const did = d.tag;
        setTag(d, -2);
        try {
          forget(d);
        } finally {
          setTag(d, did);
        }
      });
    },
  });
}
