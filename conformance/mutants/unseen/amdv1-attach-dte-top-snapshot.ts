/**
 * amdv1-attach-dte-top-snapshot (7.3: drivers/iommu/amd/iommu.c set_dte_v1 /
 * amd_iommu_domain_alloc_paging_v1, with generic_pt's dynamic top,
 * drivers/iommu/generic_pt/iommu_pt.h increase_top → driver_ops->change_top).
 *
 * An AMD v1 domain starts with a 3-level table (512 GiB) and grows a level
 * on top whenever a map reaches beyond the current top (PT_FEAT_DYNAMIC_TOP).
 * The DTE of a device holds the root pointer and the paging mode, and there
 * are two writers of it: change_top, which passes the new top explicitly to
 * every device already on the domain, and attach (dev_update_dte →
 * set_dte_entry(iommu, dev_data, 0, 0)), which must read the table's current
 * top:
 *
 *     static void set_dte_v1(struct iommu_dev_data *dev_data,
 *                            struct protection_domain *domain, u16 domid,
 *                            phys_addr_t top_paddr, unsigned int top_level,
 *                            struct dev_table_entry *new)
 *     {
 *             struct pt_iommu_amdv1_hw_info pt_info;
 *
 *             if (top_paddr) {
 *                     pt_info.host_pt_root = top_paddr;
 *                     pt_info.mode = top_level + 1;
 *             } else {
 *                     WARN_ON(top_paddr || top_level);
 *                     pt_iommu_amdv1_hw_info(&domain->amdv1, &pt_info);
 *             }
 *             amd_iommu_set_dte_v1(dev_data, domain, domid, &pt_info, new);
 *     }
 *
 * THE FAULT: the attach side uses a copy of the hardware info taken when the
 * domain was created (pt_iommu_amdv1_hw_info(&domain->amdv1,
 * &domain->pt_info) once in amd_iommu_domain_alloc_paging_v1, "the root never
 * moves, only change_top touches it and it passes its own values"):
 *
 *             } else {
 *                     pt_info = domain->pt_info;
 *             }
 *
 * change_top keeps working for the devices attached at the time of the
 * growth; the snapshot is never refreshed.
 *
 * Consequence (two objects: the domain's table, grown by one operation, and a
 * device attached by a later one): once a domain has grown — an IOAS that
 * maps at or above 512 GiB, filled into a new automatic domain or a HWPT, or
 * a map through another device's IOAS — every device attached to it
 * afterwards gets a DTE with the 3-level root and mode. Its DMA to IOVAs
 * above 512 GiB faults although the IOAS maps them and `translate` (the
 * domain's table) shows them mapped, while the devices attached before the
 * growth reach them. The device recovers when the domain grows again while
 * it is attached (change_top rewrites its DTE).
 *
 * Applied as (7.3 only; 6.12's set_dte_entry reads domain->iop.root and
 * .mode, which increase_address_space updates): on the AMD unit a device
 * context written by an attach holds the root, top level and VA width the
 * domain's table had when it was allocated; a top change of a domain
 * rewrites the contexts of the devices attached to it with the new top.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import type { HwDomain } from '../../../impl/platform/hw.ts';
import type { AllocResult } from '../../../impl/platform/iommu.ts';
import { hwUnits, mutantImplementation, patchOwn } from '../harness.ts';
import { type DteTop as Top, topOf, walkFrom } from './_amd_dte.ts';

const PASID_STRIDE = 1048576;

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('amdv1-attach-dte-top-snapshot', profile, {
    machine: (m) => {
      if (profile !== '7.3') return;
      const hw = hwUnits(m).find((h) => h.vendor === 'amd');
      const amd = [...m.instances.values()].find((i) => i.driver.name === 'amd')?.driver;
      if (!hw || !amd) return;
      /** domain->pt_info: the table's top when the domain was allocated. */
      const snapshot = new Map<HwDomain, Top>();
      /** The DTE of each (device, PASID): domain and the top it was written with. */
      const dtes = new Map<number, { domain: HwDomain; top: Top }>();
      const current = (d: HwDomain): Top | undefined => (d.pt ? topOf(d.pt) : undefined);

      patchOwn(amd, 'domainAllocPaging', (alloc) => (dev, flags, data) => {
        const r: AllocResult = alloc(dev, flags, data);
        if (r.errno !== 0 || !('domain' in r)) return r;
        const d = r.domain.hw;
        const top = d ? current(d) : undefined;
        if (d && d.pt && top) {
          snapshot.set(d, top);
          // change_top: every device on the domain gets the new top, passed explicitly.
          d.pt.onChangeTop = () => {
            const now = current(d);
            if (!now) return;
            for (const [key, e] of dtes) if (e.domain === d) dtes.set(key, { domain: d, top: now });
          };
        }
        return r;
      });

      patchOwn(hw, 'attach', (attach) => (sid: number, domain: HwDomain | null, pasid = 0) => {
        const rc = attach(sid, domain, pasid);
        const key = sid * PASID_STRIDE + pasid;
        // THE FAULT: set_dte_v1 writes domain->pt_info, the top of the table at allocation.
        const top = domain ? (snapshot.get(domain) ?? current(domain)) : undefined;
        if (domain && top) dtes.set(key, { domain, top });
        else dtes.delete(key);
        return rc;
      });

      // The IOMMU walks from the root and mode in the DTE.
      patchOwn(hw, 'translate', (translate) => (sid: number, iova: number, access: number, pasid = 0) => {
        const e = dtes.get(sid * PASID_STRIDE + pasid);
        const pt = e?.domain.pt;
        if (!e || !pt || e.domain.destroyed || (pt.root === e.top.root && pt.topLevel === e.top.topLevel)) return translate(sid, iova, access, pasid);
        return walkFrom(pt, e.top, () => translate(sid, iova, access, pasid));
      });
    },
  });
}
