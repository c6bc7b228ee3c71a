/**
 * vtdss-compat-sagaw-at-least — drivers/iommu/intel/iommu.c (7.3)
 * paging_domain_compatible_second_stage(), the test every attach of a VT-d
 * second-stage domain to a device makes against the device's DMAR unit
 * (intel_iommu_attach_device → paging_domain_compatible), and the one that
 * decides whether iommufd's automatic-domain search may reuse a domain made
 * for a device behind another unit:
 *
 *     pt_iommu_vtdss_hw_info(&dmar_domain->sspt, &pt_info);   // pt_info.aw = levels - 2
 *     ...
 *     // Address width falls within the capability
 *     if (cap_mgaw(iommu->cap) < vasz_lg2)
 *             return -EINVAL;
 *
 *     // Page table level is supported.
 *     if (!(cap_sagaw(iommu->cap) & BIT(pt_info.aw)))
 *             return -EINVAL;
 *
 * CAP.SAGAW is a bitmap of the table depths the unit can start a walk at
 * (bit 1: 3-level / 39-bit, bit 2: 4-level / 48-bit, bit 3: 5-level): a unit
 * that walks 4-level tables need not walk 3-level ones.
 *
 * THE FAULT: the depth test compares the bitmap as a number,
 *
 *     if (cap_sagaw(iommu->cap) < BIT(pt_info.aw))
 *             return -EINVAL;
 *
 * — "the unit supports at least that many levels", the reasoning 6.12's
 * agaw code used (a unit walks tables up to its AGAW, and iommu_skip_agaw()
 * drops the extra top levels of a deeper table), true for deeper tables
 * and wrong for shallower ones. The address-width test in front still
 * refuses a deeper table on a narrower unit, so only one direction opens: a
 * shallow domain made for a narrow unit is accepted by a wider unit whose
 * SAGAW lacks that depth.
 *
 * Why it needs two devices and several commands: on the machine here vtd1
 * (39-bit, SAGAW 3-level only, no snoop control) and vtd0/vtd2 (48-bit,
 * SAGAW 4-level only). Once a vtd1 device is attached to an IOAS (its
 * automatic domain is a 3-level table), a vtd0 or vtd2 device attached to
 * the same IOAS reuses that domain instead of getting its own (and an
 * explicit attach to the vtd1 HWPT succeeds instead of EINVAL). The PASID
 * entry written for the vtd0 device then carries AW = 3-level, a depth its
 * unit cannot walk: the unit rejects the entry, so every DMA of the device
 * faults although the core, iommufd and `translate` all say it is attached
 * to a domain that maps the IOAS. The two devices also share one HWPT
 * object and its lifetime (it stays while either is attached), and the CC
 * device sits on a domain that does not enforce coherency.
 *
 * Applied as (7.3 only; 6.12's prepare_domain_attach_device has no depth
 * test): the Intel driver's attach test with the faulty depth comparison,
 * and the VT-d units refuse a context whose table depth is not in their
 * SAGAW (the device's DMA faults as blocked).
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import type { HwDomain } from '../../../impl/platform/hw.ts';
import type { IommuDomain, SimDevice } from '../../../impl/platform/iommu.ts';
import { EINVAL } from '../../../impl/lib/errno.ts';
import { hwUnits, mutantImplementation, patchOwn } from '../harness.ts';

const PASID_STRIDE = 1048576;

/** CAP.SAGAW of a VT-d unit (cap bits 12:8). */
const sagawOf = (dev: SimDevice): number => Number(((dev.iommu.config.regs[0] ?? 0n) >> 8n) & 0x1fn);

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('vtdss-compat-sagaw-at-least', profile, {
    machine: (m) => {
      if (profile !== '7.3') return;
      const intel = [...m.instances.values()].find((i) => i.driver.name === 'intel')?.driver;
      const hw = hwUnits(m).find((h) => h.vendor === 'vtd');
      if (!intel || !hw) return;

      // paging_domain_compatible_second_stage() with the depth test of THE FAULT.
      patchOwn(intel, 'attachDev', () => (domain: IommuDomain, dev: SimDevice) => {
        if (domain.enforceCacheCoherency && !dev.caps.enforceCacheCoherency) return -EINVAL;
        if (domain.dirtyOps && !dev.caps.dirtyTracking) return -EINVAL;
        // cap_mgaw(iommu->cap) < vasz_lg2
        if (domain.apertureEnd > dev.iommu.config.apertureLast) return -EINVAL;
        const cfg = domain.config;
        if (cfg?.format === 'vtd-ss') {
          const aw = (cfg.levels ?? 4) - 2;
          // THE FAULT: cap_sagaw(iommu->cap) < BIT(pt_info.aw) — the kernel's is !(cap_sagaw & BIT(aw)).
          if (sagawOf(dev) < 1 << aw) return -EINVAL;
        }
        return 0;
      });

      // The unit walks the PASID entry it is given: a depth outside its SAGAW is an invalid entry,
      // every translation request through it faults.
      const devices = (hw as unknown as { devices: Map<number, unknown> }).devices;
      patchOwn(hw, 'attach', (attach) => (sid: number, domain: HwDomain | null, pasid = 0) => {
        const rc = attach(sid, domain, pasid);
        const dev = m.device(sid);
        if (domain !== null && domain.pt !== null && dev !== undefined && dev.iommu.driver === intel) {
          const aw = domain.pt.topLevel - 1;
          if (!(sagawOf(dev) & (1 << aw))) devices.delete(sid * PASID_STRIDE + pasid);
        }
        return rc;
      });
    },
  });
}
