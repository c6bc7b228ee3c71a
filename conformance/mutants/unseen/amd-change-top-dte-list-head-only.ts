/**
 * amd-change-top-dte-list-head-only — drivers/iommu/amd/iommu.c
 * amd_iommu_update_and_flush_device_table(), the device-table half of an AMD
 * v1 table's growth (6.12: io_pgtable.c increase_address_space(); 7.3:
 * generic_pt increase_top() → driver_ops->change_top → amdv1 change_top).
 *
 * An AMD v1 domain starts with three levels (512 GiB) and grows a level on
 * top when a map reaches beyond it. Every device attached to the domain has
 * the root pointer and the paging mode in its DTE, so the growth rewrites
 * and flushes the DTE of each device on the domain's dev_list:
 *
 *     static void amd_iommu_update_and_flush_device_table(
 *                     struct protection_domain *domain)
 *     {
 *             struct iommu_dev_data *dev_data;
 *
 *             lockdep_assert_held(&domain->lock);
 *
 *             list_for_each_entry(dev_data, &domain->dev_list, list) {
 *                     struct amd_iommu *iommu = rlookup_amd_iommu(dev_data->dev);
 *
 *                     set_dte_entry(iommu, dev_data, ...);
 *                     clone_aliases(iommu, dev_data->dev);
 *             }
 *
 *             list_for_each_entry(dev_data, &domain->dev_list, list)
 *                     device_flush_dte(dev_data);
 *
 *             domain_flush_complete(domain);
 *     }
 *
 * THE FAULT: the per-device helper split out of it (for the single-device
 * attach path) is called on the list head only,
 *
 *             dev_data = list_first_entry_or_null(&domain->dev_list,
 *                                                 struct iommu_dev_data, list);
 *             if (dev_data)
 *                     amd_iommu_update_dte(dev_data);   // set_dte_entry + flush
 *
 * which is right as long as a domain has one device. attach_device() puts a
 * new device at the head (list_add), so on growth only the device attached
 * last gets the new root and mode.
 *
 * Why it needs two objects and several commands: a domain shared by two
 * devices (two groups attached to one HWPT, the automatic domain of an IOAS
 * reused by a second device, or a multi-device group), and a map that grows
 * its table after both are attached (IOMMU_IOAS_MAP / _COPY at or above
 * 512 GiB; a fill of the HWPT from such an IOAS counts only if a device was
 * already on it). The device attached last follows the new top; every other
 * device keeps walking the old root with the old mode: the part of the
 * address space the old top covered still works through it (the new top
 * links the old root at index 0), so nothing shows until such a device
 * accesses the new range, which iommufd and the domain report mapped, and
 * faults. A later attach or replace of that device rewrites its DTE from the
 * current table and repairs it; so does nothing else.
 *
 * Applied as (AMD unit, both profiles): each device's DTE remembers the
 * root, top level and VA width of its domain's table as attach wrote them;
 * when the table grows, only the device at the head of the domain's device
 * list (the one attached most recently) is rewritten; a device access walks
 * the root and mode of its own DTE.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import type { HwDomain } from '../../../impl/platform/hw.ts';
import { FAULT_ADDRESS_SIZE } from '../../../impl/iommu/walker.ts';
import { hwUnits, mutantImplementation, patchOwn } from '../harness.ts';
import { type DteTop, topOf, walkFrom } from './_amd_dte.ts';

/** A DTE: its domain and the top of the domain's table it holds. */
interface Dte {
  readonly domain: HwDomain;
  top: DteTop;
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('amd-change-top-dte-list-head-only', profile, {
    machine: (m) =>
      hwUnits(m).forEach((hw) => {
        if (hw.vendor !== 'amd') return;
        const dtes = new Map<number, Dte>();
        /** domain->dev_list, head first (attach_device: list_add). */
        const devList = new Map<HwDomain, number[]>();
        const unlink = (key: number): void => {
          const old = dtes.get(key);
          if (!old) return;
          const l = devList.get(old.domain);
          if (l) l.splice(l.indexOf(key), 1);
          dtes.delete(key);
        };
        const hooked = new WeakSet<HwDomain>();
        patchOwn(hw, 'attach', (attach) => (sid: number, domain: HwDomain | null, pasid = 0) => {
          const rc = attach(sid, domain, pasid);
          const key = sid * 1048576 + pasid;
          unlink(key);
          const pt = domain?.pt;
          if (!domain || !pt) return rc;
          // set_dte_entry at attach reads the table's current top.
          dtes.set(key, { domain, top: topOf(pt) });
          let l = devList.get(domain);
          if (!l) devList.set(domain, (l = []));
          l.unshift(key);
          if (!hooked.has(domain)) {
            hooked.add(domain);
            const prev = pt.onChangeTop;
            pt.onChangeTop = (rootHw, level) => {
              prev?.(rootHw, level);
              // THE FAULT: amd_iommu_update_and_flush_device_table() rewrites the list head's DTE only.
              const head = devList.get(domain)?.[0];
              const dte = head === undefined ? undefined : dtes.get(head);
              if (dte) dte.top = topOf(pt);
            };
          }
          return rc;
        });
        patchOwn(hw, 'translate', (translate) => (sid: number, iova: number, access: number, pasid = 0) => {
          const dte = dtes.get(sid * 1048576 + pasid);
          const pt = dte?.domain.pt;
          if (!dte || !pt || dte.domain.destroyed || (pt.root === dte.top.root && pt.topLevel === dte.top.topLevel)) return translate(sid, iova, access, pasid);
          // The IOMMU checks the IOVA against its DTE's mode before anything else (no IOTLB lookup beyond it).
          if (iova >= 2 ** dte.top.vaBits) return -FAULT_ADDRESS_SIZE;
          // Within it, it walks the root and mode its DTE holds.
          return walkFrom(pt, dte.top, () => translate(sid, iova, access, pasid));
        });
      }),
  });
}
