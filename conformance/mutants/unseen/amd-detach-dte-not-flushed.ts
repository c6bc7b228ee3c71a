/**
 * amd-detach-dte-not-flushed — drivers/iommu/amd/iommu.c dev_update_dte()
 * (called by detach_device() and by the blocked domain's attach).
 *
 * The AMD IOMMU caches device table entries: after the driver rewrites a DTE
 * in memory it must issue INVALIDATE_DEVTAB_ENTRY before the new entry is
 * guaranteed to be used. The kernel does it for both directions:
 *
 *     static void dev_update_dte(struct iommu_dev_data *dev_data, bool set)
 *     {
 *             struct amd_iommu *iommu = get_amd_iommu_from_dev(dev_data->dev);
 *
 *             if (set)
 *                     set_dte_entry(iommu, dev_data);
 *             else
 *                     clear_dte_entry(iommu, dev_data->devid);
 *
 *             clone_aliases(iommu, dev_data->dev);
 *             device_flush_dte(dev_data);
 *             iommu_completion_wait(iommu);
 *     }
 *
 * THE FAULT: the flush is moved into the `set` branch (only a new
 * translation "needs" it, the reasoning goes), so clearing a DTE is never
 * flushed. detach_device() still flushes the domain's IOTLB and drops the
 * device from the domain's lists, so the domain's own bookkeeping looks
 * right.
 *
 * Consequence: a device whose group is detached from its HWPT
 * (VFIO_DEVICE_DETACH_IOMMUFD_PT, closing the device fd, iommufd teardown)
 * keeps translating through the cached DTE — the old domain's page table —
 * until the next DTE write for it that is flushed (its next attach). The
 * group is blocked as far as the iommu core and iommufd know, but the device
 * still reads and writes every page the old IOAS maps, including pages
 * mapped there after the detach (the domain stays in the IOAS while another
 * device uses it, or while the HWPT object lives), and pages of an IOAS the
 * user never meant to give it again. (When the domain itself is freed the
 * cached DTE would point at freed tables; this model stops there and blocks
 * the device, an under-approximation.)
 *
 * Applied as: on the AMD unit, a context cleared by a detach (attach of no
 * domain) stays in use by the hardware until the device is attached to a
 * domain again; device DMA of a group the core considers blocked goes
 * through such a context.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import type { Machine } from '../../../impl/platform/index.ts';
import type { HwDomain } from '../../../impl/platform/hw.ts';
import { hwUnits, mutantImplementation, patchOwn } from '../harness.ts';
import { hwDma } from './_amd_dte.ts';

/** What the hardware model keeps per stream id (instance.ts DeviceContext). */
interface DeviceContext {
  domain: HwDomain;
}

const PASID_STRIDE = 1048576;

type Dma = Machine['dma'];

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('amd-detach-dte-not-flushed', profile, {
    machine: (m) => {
      const hw = hwUnits(m).find((h) => h.vendor === 'amd');
      if (!hw) return;
      const devices = (hw as unknown as { devices: Map<number, DeviceContext> }).devices;
      /** Stream ids whose cleared DTE the IOMMU still has cached. */
      const stale = new Set<number>();
      patchOwn(hw, 'attach', (attach) => (sid: number, domain: HwDomain | null, pasid = 0) => {
        const key = sid * PASID_STRIDE + pasid;
        const cached = devices.get(key);
        const rc = attach(sid, domain, pasid);
        if (domain === null && cached !== undefined && !cached.domain.destroyed) {
          // clear_dte_entry() without device_flush_dte(): the cached DTE stays in use.
          devices.set(key, cached);
          stale.add(key);
        } else {
          stale.delete(key);
        }
        return rc;
      });
      // The core's group domain says "blocked"; the hardware walks the cached DTE.
      patchOwn(m, 'dma', (dma: Dma): Dma => (handle, iova, dir, data, length, pasid) => {
        const dev = m.device(handle);
        if (!dev || pasid !== undefined || dev.iommu.hw !== hw) return dma(handle, iova, dir, data, length, pasid);
        const g = dev.group.domain;
        const key = handle * PASID_STRIDE;
        const ctx = devices.get(key);
        if ((g.type === 'paging' && g.hw) || !stale.has(key) || ctx === undefined) return dma(handle, iova, dir, data, length, pasid);
        return hwDma(m, hw, handle, ctx.domain, iova, dir, data, length);
      });
    },
  });
}
