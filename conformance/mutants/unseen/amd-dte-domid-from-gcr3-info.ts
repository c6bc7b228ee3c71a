/**
 * amd-dte-domid-from-gcr3-info (drivers/iommu/amd/iommu.c set_dte_entry).
 *
 * The DTE's DomainID is the tag the IOMMU puts on every IOTLB and
 * page-directory-cache entry it fills for the device, and the tag every
 * INVALIDATE_IOMMU_PAGES of the domain names (build_inv_iommu_pages(...,
 * pdom->id, ...)). A device on a v1 (host) page table must carry its
 * protection domain's id; only a device with a GCR3 table (PASID/v2 mode)
 * carries the per-device id allocated for that table:
 *
 *     struct gcr3_tbl_info *gcr3_info = &dev_data->gcr3_info;
 *     ...
 *     if (has_gcr3_table(gcr3_info))          // gcr3_info && gcr3_info->gcr3_tbl
 *             domid = dev_data->gcr3_info.domid;
 *     else
 *             domid = domain->id;
 *
 * The fault tests the pointer instead of the table (`if (gcr3_info)`, open
 * coding the helper): gcr3_info points into dev_data and is never NULL, so
 * every v1 DTE is written with gcr3_info.domid, which is 0 for a device that
 * never had a GCR3 table. (Nothing warns: the WARN_ON(domid == 0) only exists
 * for SNP.)
 *
 * Consequence: every AMD device attached to any paging domain fills the
 * IOTLB under DomainID 0, while the domains' flushes name their own ids:
 *   - an IOMMU_IOAS_UNMAP (or an HWPT's destruction) never invalidates what a
 *     device cached: after the pages are unpinned the device keeps reading
 *     and writing them through the stale entry;
 *   - two devices on different domains — different IOASes, different
 *     iommufd contexts, different processes — share one tag: whatever one
 *     device cached at an IOVA is a hit for the other at the same IOVA, so a
 *     device reaches the other context's memory.
 *
 * Applied as: on the AMD unit, a device context programmed for a paging
 * domain tags its cache entries 0 (the iotlb observation lists them under
 * that DomainID).
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import type { HwDomain } from '../../../impl/platform/hw.ts';
import { hwUnits, mutantImplementation, patchOwn } from '../harness.ts';

/** The hardware model's device table (private): stream id [+ PASID] -> context. */
interface InstancePrivate {
  devices: Map<number, { domain: HwDomain; tag: number }>;
  lastKey: number;
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('amd-dte-domid-from-gcr3-info', profile, {
    machine: (m) => {
      const hw = hwUnits(m).find((h) => h.vendor === 'amd');
      if (!hw) return;
      const units = [...m.instances.values()].filter((i) => i.hw === hw).map((i) => i.name);
      const usedTags = (m as unknown as { usedTags: Map<string, Map<number, string>> }).usedTags;
      const priv = hw as unknown as InstancePrivate;
      patchOwn(hw, 'attach', (attach) => (sid: number, domain: HwDomain | null, pasid = 0) => {
        const rc = attach(sid, domain, pasid);
        if (domain === null || domain.pt === null) return rc;
        const ctx = priv.devices.get(sid * 1048576 + pasid);
        if (ctx !== undefined && ctx.domain === domain) {
          // set_dte_entry: THE FAULT — DomainID from dev_data->gcr3_info (0), not domain->id.
          ctx.tag = 0;
          priv.lastKey = -1;
          for (const name of units) {
            let t = usedTags.get(name);
            if (!t) usedTags.set(name, (t = new Map()));
            t.set(0, 'domid#0');
          }
        }
        return rc;
      });
    },
  });
}
