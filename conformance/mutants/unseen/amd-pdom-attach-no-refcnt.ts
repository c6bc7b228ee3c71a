/**
 * amd-pdom-attach-no-refcnt (drivers/iommu/amd/iommu.c pdom_attach_iommu /
 * pdom_detach_iommu, as used by attach_device / do_detach and walked by
 * domain_flush_pages_v1).
 *
 * An AMD protection domain keeps, per IOMMU that has one of its devices, a
 * struct pdom_iommu_info in pdom->iommu_array with a reference count of the
 * devices attached through that IOMMU. The IOTLB flushes of the domain
 * (amd_iommu_domain_flush_pages → domain_flush_pages_v1, used by
 * amd_iommu_iotlb_sync after every unmap) send INVALIDATE_IOMMU_PAGES to
 * exactly the IOMMUs in that array:
 *     xa_for_each(&pdom->iommu_array, i, pdom_iommu_info)
 *             ret |= iommu_queue_command(pdom_iommu_info->iommu, &cmd);
 * The correct pdom_attach_iommu is
 *     pdom_iommu_info = xa_load(&pdom->iommu_array, iommu->index);
 *     if (pdom_iommu_info) {
 *             pdom_iommu_info->refcnt++;
 *             goto out_unlock;
 *     }
 *     ... kzalloc, refcnt = 1, xa_cmpxchg ...
 * and pdom_detach_iommu drops the count and erases the entry at zero (do_detach
 * first clears the DTE and flushes the whole domain: amd_iommu_domain_flush_all).
 *
 * THE FAULT: the early-out for an IOMMU already in the array lost its
 * `refcnt++` (the count was folded into the xa_cmpxchg path in a rework). A
 * second device of the same domain behind the same IOMMU takes no reference;
 * when either device detaches, the count drops to zero and the IOMMU is erased
 * from the domain's array although the other device is still attached and
 * still translating through the domain. From then on every IOTLB flush of the
 * domain walks an empty array: no INVALIDATE_IOMMU_PAGES is sent.
 *
 * Consequence for a user: with two devices (two groups) on amd0 sharing one
 * HWPT (e.g. the automatic domain of an IOAS), detaching or closing one of
 * them makes the IOMMU stop invalidating for the other. The remaining device's
 * IOTLB keeps translations after IOMMU_IOAS_UNMAP: it keeps reading and
 * writing pages that iommufd has unpinned (and that may now belong to anyone
 * else), and sees the old pages at IOVAs that are remapped.
 *
 * Applied as: on the AMD unit the per-domain array of IOMMUs is tracked from
 * the device-table programming (attach/detach), with do_detach's full flush of
 * the old domain, and a domain's iotlb_sync sends no command while the array
 * has no entry for the unit — the kernel's behaviour — with the lost refcnt++.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import type { HwDomain } from '../../../impl/platform/hw.ts';
import { hwUnits, mutantImplementation, patchOwn } from '../harness.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('amd-pdom-attach-no-refcnt', profile, {
    machine: (m) => {
      const hw = hwUnits(m).find((h) => h.vendor === 'amd');
      if (!hw) return;
      /** pdom->iommu_array entry of this IOMMU, per domain: its refcnt. */
      const iommuArray = new Map<HwDomain, number>();
      /** The domain each (device, PASID) is attached to (dev_data->domain). */
      const attachedTo = new Map<number, HwDomain>();

      patchOwn(hw, 'attach', (attach) => (sid: number, domain: HwDomain | null, pasid = 0) => {
        const key = sid * 1048576 + pasid;
        const prev = attachedTo.get(key);
        // amd_iommu_attach_device: already attached to this domain, nothing to do.
        if (prev !== undefined && prev === domain) return attach(sid, domain, pasid);
        // do_detach (old domain) / attach_device (new one): the DTE is rewritten here.
        const rc = attach(sid, domain, pasid);
        if (prev !== undefined) {
          attachedTo.delete(key);
          // do_detach: amd_iommu_domain_flush_all over the domain's iommu_array …
          if (iommuArray.has(prev)) hw.amdInvalidatePages(prev.tag, 0, 1, 1, true);
          // … then pdom_detach_iommu.
          const n = iommuArray.get(prev);
          if (n !== undefined) {
            if (n <= 1) iommuArray.delete(prev);
            else iommuArray.set(prev, n - 1);
          }
        }
        if (domain !== null) {
          attachedTo.set(key, domain);
          // pdom_attach_iommu
          if (iommuArray.has(domain)) {
            // THE FAULT: pdom_iommu_info->refcnt++ is missing here.
          } else {
            iommuArray.set(domain, 1);
          }
        }
        return rc;
      });

      // amd_iommu_iotlb_sync → domain_flush_pages_v1: a command per IOMMU in pdom->iommu_array.
      patchOwn(hw, 'flushGather', (flushGather) => (d, g) => {
        if (!iommuArray.has(d)) return; // no pdom_iommu_info for this IOMMU: nothing is sent
        flushGather(d, g);
      });
    },
  });
}
