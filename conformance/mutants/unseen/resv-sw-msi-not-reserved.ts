/**
 * resv-sw-msi-not-reserved (drivers/iommu/iommufd/io_pagetable.c
 * iopt_table_enforce_dev_resv_regions, called when a device is attached to
 * an IOAS-backed HWPT: iommufd_device_attach_reserved_iova, and for every
 * device of the group on a replace to another IOAS).
 *
 * Every reserved region of the device except IOMMU_RESV_DIRECT_RELAXABLE is
 * taken out of the IOAS, including the software MSI window, whose start is
 * also recorded for the MSI cookie:
 *     list_for_each_entry(resv, &resv_regions, list) {
 *             if (resv->type == IOMMU_RESV_DIRECT_RELAXABLE)
 *                     continue;
 *             if (sw_msi_start && resv->type == IOMMU_RESV_MSI)
 *                     num_hw_msi++;
 *             if (sw_msi_start && resv->type == IOMMU_RESV_SW_MSI) {
 *                     *sw_msi_start = resv->start;
 *                     num_sw_msi++;
 *             }
 *             rc = iopt_reserve_iova(iopt, resv->start,
 *                                    resv->length - 1 + resv->start, dev);
 *             ...
 * The fault ends the SW_MSI branch with a `continue` (as if the MSI cookie
 * took care of the window, the shape a rework of the SW_MSI handling gives
 * this loop): the window's start is still recorded and counted, but the
 * window is never reserved in the IOAS.
 *
 * Consequence for a user: with a device behind an IOMMU that has a software
 * MSI window (SMMUv3: IOVA 0x8000000-0x80fffff) attached, the IOAS still
 * reports that window in IOMMU_IOAS_IOVA_RANGES, accepts IOMMU_IOAS_MAP and
 * IOMMU_IOAS_COPY into it (automatic IOVA allocation can place mappings
 * there too), and accepts IOMMU_IOAS_ALLOW_IOVAS ranges over it. The kernel
 * maps the MSI doorbell at the same IOVA for the device's interrupts, so
 * user memory and the doorbell compete for one translation: the device's
 * DMA to that IOVA reaches user memory instead of the doorbell or the
 * reverse (MSIs land in user memory; user DMA writes ring the interrupt
 * controller).
 *
 * Applied as: each device bound to an iommufd context of the process has
 * its IOMMU_RESV_SW_MSI regions left out of the list the attach paths hand
 * to iopt_table_enforce_dev_resv_regions (so neither the reservation nor
 * its checks and allocation happen), while the window's start is still
 * recorded in the group's sw_msi_start as the kernel loop does before the
 * `continue`. Every other region is reserved as in the reference.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';
import type { IommufdDevice } from '../../../impl/iommufd/iommufd_private.ts';
import type { SimDevice } from '../../../impl/platform/iommu.ts';

/** The iommufd_device currently bound for each device (its igroup gets sw_msi_start). */
const bound = new WeakMap<SimDevice, IommufdDevice>();

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('resv-sw-msi-not-reserved', profile, {
    object: (obj) => {
      if (obj?.type !== 'DEVICE') return;
      const idev = obj as IommufdDevice;
      const dev = idev.dev;
      const first = !bound.has(dev);
      bound.set(dev, idev);
      if (!first) return;
      patchOwn(dev, 'resvRegions', (resvRegions) => () => {
        const out = [];
        for (const r of resvRegions()) {
          if (r.type === 'sw-msi') {
            // *sw_msi_start = resv->start; num_sw_msi++; THE FAULT: continue;
            const igroup = bound.get(dev)?.igroup;
            if (igroup && r.start < igroup.swMsiStart) igroup.swMsiStart = r.start;
            continue;
          }
          out.push(r);
        }
        return out;
      });
    },
  });
}
