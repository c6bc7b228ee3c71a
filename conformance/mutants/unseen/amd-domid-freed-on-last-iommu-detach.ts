/**
 * amd-domid-freed-on-last-iommu-detach — drivers/iommu/amd/iommu.c,
 * pdom_detach_iommu() (reached from detach_device(), 6.12 and 7.3).
 *
 * A protection domain's hardware domain id (DTE[DomainID], the tag of every
 * IOTLB and PDE-cache entry the domain's walks fill) lives as long as the
 * domain: allocated in protection_domain_alloc / pdom_setup_paging_domain and
 * freed only in protection_domain_free / amd_iommu_domain_free. The per-IOMMU
 * bookkeeping dropped when the last device behind an IOMMU leaves is only the
 * pdom_iommu_info refcount (7.3, the same in 6.12):
 *
 *     pdom_iommu_info->refcnt--;
 *     if (pdom_iommu_info->refcnt == 0) {
 *             xa_erase(&pdom->iommu_array, iommu->index);
 *             kfree(pdom_iommu_info);
 *     }
 *
 * and the id goes back to the allocator in amd_iommu_domain_free:
 *
 *     WARN_ON(!list_empty(&domain->dev_list));
 *     pt_iommu_deinit(&domain->iommu);
 *     amd_iommu_pdom_id_free(domain->id);
 *
 * The fault releases the domain id together with the per-IOMMU info, as the
 * per-device GCR3 domid is released on detach (free_gcr3_table:
 * "Free per device domain ID"): `amd_iommu_pdom_id_free(pdom->id)` inside the
 * `refcnt == 0` branch. detach_device has flushed the domain
 * (amd_iommu_domain_flush_all) just before, so nothing stale is cached and it
 * looks harmless; but the domain lives on (a user HWPT outlives its last
 * device) and keeps domain->id, which is written into the DTE again at the
 * next attach. The allocator hands the same id to the next domain allocated
 * (lowest free bit), so two live domains with different page tables now share
 * one DomainID. A device of one domain hits IOTLB entries the other domain's
 * walks filled: DMA through HWPT A at an IOVA reaches the page HWPT B maps
 * there (another IOAS's buffer), and vice versa; an unmap in one domain flushes
 * the other's translations only by accident. When the first domain is finally
 * freed its id is freed a second time, releasing the id the second domain holds
 * to a third.
 *
 * Observable: alloc HWPT A (IOAS 1) for device 1, attach, detach (A keeps
 * existing), alloc HWPT B (IOAS 2, same IOVA, other buffer) for device 2 (it
 * gets A's id), attach and DMA through it, attach device 1 to A again: its read
 * at the IOVA returns IOAS 2's buffer.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import type { HwDomain } from '../../../impl/platform/hw.ts';
import { hwUnits, mutantImplementation, patchOwn } from '../harness.ts';

const PASID_STRIDE = 1048576;

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('amd-domid-freed-on-last-iommu-detach', profile, {
    machine: (m) => {
      const hw = hwUnits(m).find((h) => h.vendor === 'amd');
      if (!hw) return;
      /** The domain-id allocator (amd_iommu_pd_alloc_bitmap / pdom_ids IDA): ids in use and ids given back. */
      const allocated = new Set<number>();
      const freed: number[] = [];
      const idFree = (id: number): void => {
        if (!allocated.delete(id)) return; // ida_free of a free id: WARN, nothing
        freed.push(id);
        freed.sort((a, b) => a - b);
      };
      /** Devices of each domain behind this IOMMU (pdom_iommu_info->refcnt; one AMD unit). */
      const refcnt = new Map<HwDomain, number>();
      const attached = new Map<number, HwDomain>();

      patchOwn(hw, 'createDomain', (orig) => (cfg) => {
        const d = orig(cfg);
        if (typeof d === 'number') return d;
        // the lowest free id: one the allocator got back, else the fresh one
        const id = freed.length > 0 && (freed[0] as number) < d.tag ? (freed.shift() as number) : d.tag;
        if (id !== d.tag) patchOwn(d, 'tag', () => id);
        allocated.add(id);
        return d;
      });
      // amd_iommu_domain_free: the id goes back when the domain is freed.
      patchOwn(hw, 'forgetDomain', (orig) => (d) => {
        orig(d);
        refcnt.delete(d);
        idFree(d.tag);
      });
      patchOwn(hw, 'attach', (orig) => (sid: number, domain: HwDomain | null, pasid = 0) => {
        const key = sid * PASID_STRIDE + pasid;
        const prev = attached.get(key);
        if (prev !== domain) {
          if (prev) {
            attached.delete(key);
            const n = (refcnt.get(prev) ?? 1) - 1;
            if (n > 0) refcnt.set(prev, n);
            else {
              refcnt.delete(prev);
              // detach_device: amd_iommu_domain_flush_all(domain), then pdom_detach_iommu:
              hw.amdInvalidatePages(prev.tag, 0, 1, 1, true);
              idFree(prev.tag); // THE FAULT: the domain id released with the last per-IOMMU reference
            }
          }
          if (domain) {
            attached.set(key, domain);
            refcnt.set(domain, (refcnt.get(domain) ?? 0) + 1);
          }
        }
        return orig(sid, domain, pasid);
      });
    },
  });
}
