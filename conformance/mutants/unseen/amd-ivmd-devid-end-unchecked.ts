/**
 * R22-B2 — amd-ivmd-devid-end-unchecked (drivers/iommu/amd/iommu.c
 * amd_iommu_get_resv_regions(), the same code in 6.12 and 7.3; reached
 * through iommu_get_resv_regions() from iommufd_device_attach_reserved_iova()
 * on every attach and replace of a device behind an AMD IOMMU).
 *
 * The firmware's IVMD entries (the unity-map list of the PCI segment,
 * init_unity_map_range) each name a device id range [devid_start,
 * devid_end] — one device for IVMD_TYPE, a range for IVMD_TYPE_RANGE — and
 * a memory range those devices must keep (RMRR-like direct regions, or an
 * exclusion range). The driver reports to a device the entries whose range
 * holds its device id:
 *
 *     list_for_each_entry(entry, &pci_seg->unity_map, list) {
 *             ...
 *             if (devid < entry->devid_start || devid > entry->devid_end)
 *                     continue;
 *
 * THE FAULT: the upper bound of the test is lost (a rework of the test
 * into "is the entry for a device at or below this one", as the list is
 * sorted by start):
 *
 *             if (devid < entry->devid_start)
 *                     continue;
 *
 * so every device reports, besides its own entries, the entries of every
 * device with a lower device id on the segment — a region that belongs to
 * another device (a sibling NIC's firmware buffer, a USB controller's
 * legacy-emulation window) now also belongs to it.
 *
 * Why it needs two objects and several commands: nothing is wrong for the
 * device that owns the IVMD entry, nor for a device alone on the unit. The
 * harm appears when another device behind the same AMD unit, probed after
 * it, is attached: iommufd reserves the other device's region in the IOAS
 * of that attachment (iopt_table_enforce_dev_resv_regions). An
 * IOMMU_IOAS_MAP at a fixed IOVA in that range then fails with EINVAL
 * (iopt_check_iova: a reserved range intersects) although nothing of that
 * device or IOAS reserves it, automatic IOVA
 * allocation steers around it, IOMMU_IOAS_IOVA_RANGES no longer reports it
 * as usable, and an attach of that device to an IOAS that already maps
 * something there fails with EADDRINUSE (VFIO_DEVICE_ATTACH_IOMMUFD_PT,
 * IOMMU_HWPT_ALLOC, a replace) — a VMM can no longer place guest RAM where
 * the guest's memory map has it. The region stays reserved until that
 * device is detached again.
 *
 * Applied as: on the amd0 unit the IVMD list is the device-specific
 * reserved regions of every device created behind it (in device-handle
 * order, the device id order of the simulated segment; a removed device's
 * firmware entry stays); each device's iommu_get_resv_regions reports the
 * unit's regions and every entry whose device handle is at most its own.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import type { ResvRegion, SimDevice } from '../../../impl/platform/iommu.ts';
import type { Machine } from '../../../impl/platform/index.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';

/** One IVMD entry of the segment: the device id it was written for and its region. */
interface UnityMapEntry {
  readonly devid: number;
  readonly region: ResvRegion;
}

function patchMachine(m: Machine): void {
  /** pci_seg->unity_map, as the firmware listed it. */
  const unityMap: UnityMapEntry[] = [];
  patchOwn(m, 'deviceCreate', (create) => (spec) => {
    const r = create(spec);
    if (!r.ok) return r;
    const dev = m.device(r.device);
    if (!dev || dev.iommu.driver.name !== 'amd') return r;
    for (const region of dev.ownResv) unityMap.push({ devid: dev.handle, region });
    patchOwn(dev as SimDevice, 'resvRegions', () => () => {
      const out: ResvRegion[] = [...dev.iommu.config.resvRegions];
      for (const e of unityMap) {
        // THE FAULT: `devid < entry->devid_start || devid > entry->devid_end` lost its upper bound.
        if (dev.handle < e.devid) continue;
        out.push(e.region);
      }
      return out;
    });
    return r;
  });
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('amd-ivmd-devid-end-unchecked', profile, {
    machine: (m) => patchMachine(m),
  });
}
