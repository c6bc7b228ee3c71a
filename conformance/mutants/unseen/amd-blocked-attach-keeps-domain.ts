/**
 * amd-blocked-attach-keeps-domain (drivers/iommu/amd/iommu.c
 * blocked_domain_attach_device, with amd_iommu_attach_device and the
 * change_top / increase_address_space DTE rewrite; the same code in 6.12
 * and 7.3).
 *
 * The AMD driver keeps, per device, the protection domain the device is on
 * (dev_data->domain) and, per domain, the devices on it (pdom->dev_list,
 * plus the pdom_iommu_info reference counts). Attaching the blocked domain —
 * what the iommu core does when iommufd takes DMA ownership
 * (VFIO_DEVICE_BIND_IOMMUFD) and when a device is detached while owned
 * (VFIO_DEVICE_DETACH_IOMMUFD_PT, IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE … to
 * nothing) — must take the device out of its old domain before clearing the
 * DTE:
 *
 *     static int blocked_domain_attach_device(struct iommu_domain *domain,
 *                                             struct device *dev,
 *                                             struct iommu_domain *old)
 *     {
 *             struct iommu_dev_data *dev_data = dev_iommu_priv_get(dev);
 *
 *             if (dev_data->domain)
 *                     detach_device(dev);
 *
 *             /* Clear DTE and flush the entry *\/
 *             mutex_lock(&dev_data->mutex);
 *             dev_update_dte(dev_data, false);
 *             mutex_unlock(&dev_data->mutex);
 *
 *             return 0;
 *     }
 *
 * THE FAULT: the blocked domain only clears the DTE (the `if
 * (dev_data->domain) detach_device(dev);` pair is lost, "a blocked device
 * has no translation, clearing its DTE is all it takes"):
 *
 *             mutex_lock(&dev_data->mutex);
 *             dev_update_dte(dev_data, false);
 *             mutex_unlock(&dev_data->mutex);
 *
 * The hardware is blocked at once, so the detach itself looks right. But
 * dev_data->domain still names the old domain and the device is still on
 * that domain's dev_list. Two later operations trip over it:
 *
 *   1. Attaching the device to the same domain again (the HWPT it was
 *      detached from, or the IOAS whose automatic domain another device
 *      kept alive) reaches amd_iommu_attach_device, whose first test is
 *          if (dev_data->domain == domain)
 *                  return 0;
 *      so no DTE is written: the attach succeeds, iommufd and the iommu
 *      core have the group on the domain, `translate` shows the mappings,
 *      and every DMA of the device is blocked.
 *   2. When the old domain's page table grows a level (a map above the
 *      span of the current top: 512 GiB for the 3-level start, through the
 *      IOAS of any other device or HWPT still using the domain), change_top
 *      (7.3) / amd_iommu_update_and_flush_device_table (6.12) rewrites the
 *      DTE of every device on dev_list — the "blocked" one included — with
 *      the domain's new root: a device that was detached (bound to iommufd,
 *      attached to nothing) translates through that domain again and reads
 *      and writes the pages of an IOAS it is no longer attached to.
 * Attaching another domain (or the default domain at unbind) finds
 * dev_data->domain set and runs detach_device then, which cleans up.
 *
 * Applied as: on the AMD unit the driver's dev_data->domain and each
 * domain's dev_list are tracked from the iommu core's domain changes; the
 * blocked domain clears the device context without leaving the old domain;
 * an attach of the domain dev_data->domain already names writes nothing;
 * a top-level change of a domain (re)programs the context of every device
 * on its dev_list.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import type { Machine } from '../../../impl/platform/index.ts';
import type { HwDomain } from '../../../impl/platform/hw.ts';
import type { AllocResult, IommuDomain, IommuGroup } from '../../../impl/platform/iommu.ts';
import { hwUnits, mutantImplementation, patchOwn } from '../harness.ts';
import { hwDma } from './_amd_dte.ts';

type SetGroupDomain = { setGroupDomain(g: IommuGroup, domain: IommuDomain): void };
type Target = 'blocked' | 'default' | 'paging';
type Dma = Machine['dma'];

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('amd-blocked-attach-keeps-domain', profile, {
    machine: (m) => {
      const hw = hwUnits(m).find((h) => h.vendor === 'amd');
      const amd = [...m.instances.values()].find((i) => i.driver.name === 'amd')?.driver;
      if (!hw || !amd) return;
      /** dev_data->domain, per stream id. */
      const devDomain = new Map<number, HwDomain>();
      /** pdom->dev_list, per domain. */
      const devList = new Map<HwDomain, Set<number>>();
      /** What each DTE holds (null: cleared). */
      const dte = new Map<number, HwDomain | null>();
      /** What the iommu core is attaching while it programs the group's devices. */
      let target: Target | undefined;

      const leave = (sid: number): void => {
        const d = devDomain.get(sid);
        if (d === undefined) return;
        devList.get(d)?.delete(sid);
        devDomain.delete(sid);
      };

      patchOwn(hw, 'attach', (attach) => (sid: number, domain: HwDomain | null, pasid = 0) => {
        if (pasid !== 0) return attach(sid, domain, pasid);
        if (domain === null) {
          // THE FAULT: blocked_domain_attach_device clears the DTE without detach_device().
          if (target !== 'blocked') leave(sid); // default domain / release_device: detach_device() runs
          dte.set(sid, null);
          return attach(sid, null, pasid);
        }
        // amd_iommu_attach_device: "Skip attach device to domain if new domain is same as devices current domain"
        if (devDomain.get(sid) === domain) return 0;
        leave(sid);
        const rc = attach(sid, domain, pasid);
        devDomain.set(sid, domain);
        let l = devList.get(domain);
        if (!l) devList.set(domain, (l = new Set()));
        l.add(sid);
        dte.set(sid, domain);
        return rc;
      });

      patchOwn(m as unknown as SetGroupDomain, 'setGroupDomain', (set) => (g, domain) => {
        const outer = target;
        target = domain === g.blockingDomain ? 'blocked' : domain.hw ? 'paging' : 'default';
        try {
          set(g, domain);
        } finally {
          target = outer;
        }
      });

      // change_top / amd_iommu_update_and_flush_device_table: every DTE on the domain's dev_list gets the new root.
      const rawAttach = (sid: number, d: HwDomain): void => {
        const saved = target;
        target = 'paging';
        try {
          const l = devList.get(d);
          l?.delete(sid);
          devDomain.delete(sid);
          (hw.attach as (sid: number, domain: HwDomain | null, pasid?: number) => number)(sid, d, 0);
        } finally {
          target = saved;
        }
      };
      patchOwn(amd, 'domainAllocPaging', (alloc) => (dev, flags, data) => {
        const r: AllocResult = alloc(dev, flags, data);
        if (r.errno !== 0 || !('domain' in r)) return r;
        const d = r.domain.hw;
        const pt = d?.pt;
        if (d && pt) {
          pt.onChangeTop = () => {
            for (const sid of [...(devList.get(d) ?? [])]) if (dte.get(sid) !== d) rawAttach(sid, d);
          };
        }
        return r;
      });

      // The core's group is on the blocking domain; the hardware walks whatever the DTE was rewritten to.
      patchOwn(m, 'dma', (dma: Dma): Dma => (handle, iova, dir, data, length, pasid) => {
        const dev = m.device(handle);
        if (!dev || pasid !== undefined || dev.iommu.hw !== hw) return dma(handle, iova, dir, data, length, pasid);
        const g = dev.group.domain;
        const d = dte.get(handle);
        if ((g.type === 'paging' && g.hw) || !d || d.destroyed) return dma(handle, iova, dir, data, length, pasid);
        return hwDma(m, hw, handle, d, iova, dir, data, length);
      });
    },
  });
}
