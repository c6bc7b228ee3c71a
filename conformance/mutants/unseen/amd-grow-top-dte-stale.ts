/**
 * Round 7b fault (AMD v1 dynamic top: 7.3 drivers/iommu/generic_pt/iommu_pt.h
 * increase_top → driver_ops->change_top (amd/iommu.c amdv1 change_top →
 * amd_iommu_update_and_flush_device_table); 6.12 amd/io_pgtable.c
 * increase_address_space → amd_iommu_update_and_flush_device_table).
 *
 * An AMD v1 domain starts with few levels and grows a new top table when a
 * map reaches beyond the IOVA span of the current one; the device table
 * entries of every device attached to the domain hold the root pointer and
 * the paging mode, so the growth must rewrite and flush them. The fault
 * installs the new top in the domain only (the pre-2019 shape, fixed by
 * "iommu/amd: Update Device Table in increase_address_space()"): the DTEs
 * keep the old root and the old mode.
 *
 * Consequence: after an IOAS_MAP above the first span (512 GiB for the
 * 3-level start) on a domain a device is attached to, the device faults on
 * the new mapping (its DTE mode cannot express the IOVA) although iommufd
 * and the domain report it mapped; a later attach (new DTE) sees it. With a
 * stale mode the hardware also resolves every IOVA through the old root,
 * which the new top still links at index 0, so the old part of the address
 * space keeps working and hides the problem.
 *
 * Applied as: on the AMD unit each device context remembers the root, top
 * level and VA width of its domain as they were at attach; a device access
 * walks with those (the domain's own root, level and width are restored
 * right after).
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import type { HwDomain } from '../../../impl/platform/hw.ts';
import { hwUnits, mutantImplementation, patchOwn } from '../harness.ts';
import { type DteTop, topOf, walkFrom } from './_amd_dte.ts';

interface Dte extends DteTop {
  readonly domain: HwDomain;
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('amd-grow-top-dte-stale', profile, {
    machine: (m) =>
      hwUnits(m).forEach((hw) => {
        if (hw.vendor !== 'amd') return;
        const dtes = new Map<number, Dte>();
        patchOwn(hw, 'attach', (attach) => (sid: number, domain: HwDomain | null, pasid = 0) => {
          const rc = attach(sid, domain, pasid);
          const key = sid * 1048576 + pasid;
          const pt = domain?.pt;
          if (domain && pt) dtes.set(key, { domain, ...topOf(pt) });
          else dtes.delete(key);
          return rc;
        });
        patchOwn(hw, 'translate', (translate) => (sid: number, iova: number, access: number, pasid = 0) => {
          const dte = dtes.get(sid * 1048576 + pasid);
          const pt = dte?.domain.pt;
          if (!dte || !pt || dte.domain.destroyed || pt.root === dte.root) return translate(sid, iova, access, pasid);
          // THE FAULT: change_top never reached the DTE; the IOMMU walks the root/mode it was given at attach.
          return walkFrom(pt, dte, () => translate(sid, iova, access, pasid));
        });
      }),
  });
}
