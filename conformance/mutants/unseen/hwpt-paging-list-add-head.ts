/**
 * hwpt-paging-list-add-head (drivers/iommu/iommufd/hw_pagetable.c,
 * iommufd_hwpt_paging_alloc; consumed by device.c
 * iommufd_device_auto_get_domain).
 *
 * A new paging HWPT joins its IOAS's hwpt_list at the tail once its domain
 * is in the io_pagetable (6.12 and 7.3 alike):
 *
 *     rc = iopt_table_add_domain(&ioas->iopt, hwpt->domain);
 *     if (rc)
 *             goto out_detach;
 *     list_add_tail(&hwpt_paging->hwpt_item, &ioas->hwpt_list);
 *     return hwpt_paging;
 *
 * and an attach or replace by IOAS id tries the automatic HWPTs of that list
 * in order, taking the first that accepts the device:
 *
 *     list_for_each_entry(hwpt_paging, &ioas->hwpt_list, hwpt_item) {
 *             if (!hwpt_paging->auto_domain)
 *                     continue;
 *             ...
 *             destroy_hwpt = (*do_attach)(idev, pasid, hwpt);
 *
 * The fault is `list_add(&hwpt_paging->hwpt_item, &ioas->hwpt_list)` — the
 * head instead of the tail, a one-word slip that nothing in the allocation
 * itself notices. The search then prefers the newest automatic HWPT.
 *
 * Observable only when an IOAS holds two automatic HWPTs that both accept a
 * later device — an uncommon state, since a second automatic HWPT exists only
 * because some device refused the first. E.g. on vtd0: a device whose IOMMU
 * enforces coherency attaches first (HWPT A, snoop enforced); a device that
 * cannot (enforceCacheCoherency false) is refused by A (EINVAL) and gets HWPT
 * B (not enforced); a third coherency-capable device attached by IOAS id now
 * lands in B instead of A: another pt_id comes back, and its DMA goes
 * through a domain that does not force snooping although its IOMMU could
 * (and KVM, which asks the device's capability, keeps WBINVD a no-op).
 *
 * Applied as: every IOAS the context publishes gets a hwpt_list whose
 * insertion (the reference's push, made only by iommufd_hwpt_paging_alloc)
 * puts the new HWPT first.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import type { IommufdIoas } from '../../../impl/iommufd/iommufd_private.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('hwpt-paging-list-add-head', profile, {
    object: (obj) => {
      if (obj.type !== 'IOAS') return;
      const list = (obj as IommufdIoas).hwptList;
      // THE FAULT: list_add (head) instead of list_add_tail.
      patchOwn(list, 'push', () => (...items) => list.unshift(...items));
    },
  });
}
