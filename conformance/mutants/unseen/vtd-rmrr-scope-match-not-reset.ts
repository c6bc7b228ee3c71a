/**
 * vtd-rmrr-scope-match-not-reset — drivers/iommu/intel/iommu.c,
 * intel_iommu_get_resv_regions() (6.12 and 7.3).
 *
 * A VT-d device's own reserved IOVA regions are the RMRRs of the DMAR table
 * whose device scope names it (or a bridge above it); iommufd reserves what
 * iommu_get_resv_regions(dev) returns in the IOAS of every attach of that
 * device (iopt_table_enforce_dev_resv_regions). The kernel walks every RMRR
 * unit and, per unit, skips scope entries that are not this device:
 *
 *     for_each_rmrr_units(rmrr) {
 *             for_each_active_dev_scope(rmrr->devices, rmrr->devices_cnt,
 *                                       i, i_dev) {
 *                     ...
 *                     if (i_dev != device &&
 *                         !is_downstream_to_pci_bridge(device, i_dev))
 *                             continue;
 *
 *                     length = rmrr->end_address - rmrr->base_address + 1;
 *                     ...
 *                     resv = iommu_alloc_resv_region(rmrr->base_address,
 *                                                    length, prot, type,
 *                                                    GFP_ATOMIC);
 *                     ...
 *                     list_add_tail(&resv->list, head);
 *             }
 *     }
 *
 * The fault turns the scope test into a "matched" flag (as one would to add
 * a second way of matching, e.g. ACPI namespace devices) and declares it at
 * the top of the function instead of per RMRR unit:
 *
 *     bool in_scope = false;
 *     for_each_rmrr_units(rmrr) {
 *             for_each_active_dev_scope(...) {
 *                     if (i_dev == device ||
 *                         is_downstream_to_pci_bridge(device, i_dev))
 *                             in_scope = true;
 *                     if (!in_scope)
 *                             continue;
 *                     ...add the region
 *
 * Once the device's own RMRR has matched, the flag stays set, and every RMRR
 * that comes after it in the table is reported for this device too. A device
 * with no RMRR, or with the last one, is unaffected, so the bug shows only
 * when two devices with RMRRs exist, and then only for the one listed first:
 * its attach reserves the other device's range in its IOAS (IOVA_RANGES
 * loses it, a map there fails with EADDRINUSE, or the attach itself fails
 * with EADDRINUSE when the IOAS already maps something there) — and only from
 * the moment the second device is probed, so an IOAS the first device was
 * attached to earlier sees it on its next attach or replace.
 *
 * The simulated DMAR table lists one RMRR per device-specific region of the
 * machine's VT-d devices (DeviceSpec.reservedRegions), in the order the
 * devices were created, each scoped to its device.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import type { ResvRegion, SimDevice } from '../../../impl/platform/iommu.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('vtd-rmrr-scope-match-not-reset', profile, {
    machine: (m) => {
      /** The DMAR table's RMRR units: (scope device, range), in table order. */
      const rmrrs: { dev: SimDevice; region: ResvRegion }[] = [];

      /** intel_iommu_get_resv_regions with the hoisted flag. */
      const intelResvRegions = (device: SimDevice): ResvRegion[] => {
        const head: ResvRegion[] = [];
        let inScope = false; // THE FAULT: not reset per RMRR unit
        for (const rmrr of rmrrs) {
          if (rmrr.dev.removed) continue; // for_each_active_dev_scope: gone devices drop out
          if (rmrr.dev === device) inScope = true;
          if (!inScope) continue;
          head.push(rmrr.region);
        }
        // The IOAPIC range every device behind the unit reports (IOMMU_RESV_MSI).
        return [...device.iommu.config.resvRegions, ...head];
      };

      patchOwn(m, 'deviceCreate', (orig) => (spec) => {
        const r = orig(spec);
        if (!r.ok) return r;
        const dev = m.device(r.device);
        if (dev && dev.iommu.driver.name === 'intel') {
          for (const region of dev.ownResv) rmrrs.push({ dev, region });
          patchOwn(dev, 'resvRegions', () => () => intelResvRegions(dev));
        }
        return r;
      });
    },
  });
}
