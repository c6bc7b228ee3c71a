/**
 * R22-C2 — pasid-compat-find-includes-rid (drivers/iommu/iommufd/device.c,
 * iommufd_hwpt_pasid_compat(), 7.3).
 *
 * 7.3 lets a group be attached at its RID (IOMMU_NO_PASID, index 0 of
 * igroup->pasid_attach) and at PASIDs (indexes 1...). A HWPT that is put on
 * the RID while PASIDs are attached must have been allocated with
 * IOMMU_HWPT_ALLOC_PASID (pasid_compat). Before a RID attach or replace, the
 * check looks for attachments *other than the RID's own*:
 *
 *     if (pasid == IOMMU_NO_PASID) {
 *             unsigned long start = IOMMU_NO_PASID;
 *
 *             if (!hwpt->pasid_compat &&
 *                 xa_find_after(&igroup->pasid_attach,
 *                               &start, UINT_MAX, XA_PRESENT))
 *                     return -EINVAL;
 *     }
 *
 * THE FAULT: xa_find() in place of xa_find_after() — the two differ only in
 * whether `start` itself is searched:
 *
 *             if (!hwpt->pasid_compat &&
 *                 xa_find(&igroup->pasid_attach,
 *                         &start, UINT_MAX, XA_PRESENT))
 *                     return -EINVAL;
 *
 * so the RID's own attachment now counts as "a PASID is attached". A first
 * attach does not notice: iommufd_hw_pagetable_attach() has only reserved
 * index 0 (XA_ZERO_ENTRY), which xa_find() skips. Every later call with the
 * RID slot filled does: iommufd_hwpt_replace_device() — a replace of an
 * attached group onto any HWPT not allocated with IOMMU_HWPT_ALLOC_PASID
 * (every automatic HWPT, every plain IOMMU_HWPT_ALLOC) — fails with EINVAL.
 * (A second device of an attached group joins without the check: only the
 * group's first attach calls iommufd_hwpt_attach_device.)
 *
 * Several commands, two objects: the attach that fills the RID slot on one
 * HWPT succeeds; the replace onto another HWPT (VFIO_DEVICE_ATTACH_IOMMUFD_PT
 * of an attached device, by HWPT id or by IOAS id, and
 * IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE) fails with EINVAL, and nothing changes:
 * the device stays on the old HWPT. A VMM can no longer move a running
 * device between address spaces (vIOMMU enable/disable, live update of the
 * guest's mappings through a second IOAS) without a detach/attach window in
 * which the device's DMA is blocked; IOAS-level re-attach to a new IOAS
 * fails outright.
 *
 * 7.3 only (6.12 has no pasid_attach and no pasid_compat); on 6.12 the
 * mutant is the reference.
 *
 * Applied as: iommu_replace_group_handle (Machine iommuReplaceGroup, reached
 * only from iommufd_hwpt_replace_device) answers EINVAL, without touching the
 * group, when the domain is not that of a HWPT allocated with
 * IOMMU_HWPT_ALLOC_PASID (a domain of a HWPT not yet published is a new
 * automatic one, allocated without it). The kernel makes the check just
 * before the handle's kzalloc; here the handle's fail_nth step comes first,
 * which only renumbers a fault-injection sweep.
 */
import { EINVAL } from '../../../impl/lib/errno.ts';
import type { IommufdHwptPaging } from '../../../impl/iommufd/iommufd_private.ts';
import type { IommuDomain } from '../../../impl/platform/iommu.ts';
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';

export function createAdapter(profile: Profile): Implementation {
  /** The published paging HWPT of each domain. */
  const hwptOf = new WeakMap<IommuDomain, IommufdHwptPaging>();
  return mutantImplementation('pasid-compat-find-includes-rid', profile, {
    object: (obj) => {
      if (obj.type !== 'HWPT_PAGING') return;
      const h = obj as IommufdHwptPaging;
      if (h.domain) hwptOf.set(h.domain, h);
    },
    machine: (m, env) => {
      if (env.profile !== '7.3') return;
      patchOwn(m, 'iommuReplaceGroup', (replace) => (g, domain) => {
        // THE FAULT: xa_find() from IOMMU_NO_PASID finds the group's own RID attachment.
        if (!hwptOf.get(domain)?.pasidCompat) return -EINVAL;
        return replace(g, domain);
      });
    },
  });
}
