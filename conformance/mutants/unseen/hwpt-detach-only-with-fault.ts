/**
 * hwpt-detach-only-with-fault (drivers/iommu/iommufd/device.c
 * iommufd_hwpt_detach_device, called by iommufd_hw_pagetable_detach when the
 * last device of the group leaves).
 *
 * The correct code (6.12, after the IOPF attach-handle rework):
 *     handle = iommufd_device_get_attach_handle(idev);
 *     iommu_detach_group_handle(hwpt->domain, idev->igroup->group);
 *     if (hwpt->fault) {
 *             iommufd_auto_response_faults(hwpt, handle);
 *             iommufd_fault_iopf_disable(idev);
 *     }
 *     kfree(handle);
 * The fault is a merge slip of the kind those reworks invite (the
 * `if (hwpt->fault)` block was added, removed and reshaped across releases):
 * iommu_detach_group_handle() lands inside the `if (hwpt->fault)` block, so
 * a HWPT without a fault object is never detached from the group.
 * iommufd_hw_pagetable_detach still clears igroup->hwpt, drops the reserved
 * regions and returns the HWPT to be put; the iommu core's group->domain
 * stays the HWPT's paging domain instead of going back to the blocking
 * domain.
 *
 * Consequence: after VFIO_DEVICE_DETACH_IOMMUFD_PT (or the release of a
 * selftest mock device) the device keeps translating through the HWPT it
 * left: with a HWPT the user allocated (IOMMU_HWPT_ALLOC), the "detached"
 * device still reads and writes every page of that IOAS, including pages
 * mapped later, until the HWPT is destroyed; an automatic HWPT is destroyed
 * at once and its domain freed while group->domain still points at it (a
 * use-after-free in the kernel; here the freed domain translates nothing). In
 * both cases group->domain is neither the default nor the blocking domain, so
 * every later attach of the group fails with EBUSY (__iommu_attach_group)
 * until the last device of the group is unbound and DMA ownership released.
 *
 * Applied as: the machine's iommu_detach_group (the core call that
 * iommu_detach_group_handle makes) does nothing unless the HWPT the group is
 * leaving has a fault object.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import type { IommufdCtx } from '../../../impl/iommufd/iommufd_private.ts';
import type { IommuGroup } from '../../../impl/platform/iommu.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';

export function createAdapter(profile: Profile): Implementation {
  /** Every iommufd context of the process (to find the iommufd_group leaving its HWPT). */
  const ctxs = new Set<IommufdCtx>();
  return mutantImplementation('hwpt-detach-only-with-fault', profile, {
    ctx: (ctx) => {
      ctxs.add(ctx);
    },
    machine: (m) => {
      patchOwn(m, 'iommuDetachGroup', (detach) => (g: IommuGroup) => {
        let hwptFault = false;
        for (const ctx of ctxs) {
          const igroup = ctx.groups.get(g.id);
          if (igroup && igroup.group === g && igroup.hwpt) hwptFault = igroup.hwpt.fault != null;
        }
        // THE FAULT: iommu_detach_group_handle() only inside `if (hwpt->fault)`.
        if (hwptFault) detach(g);
      });
    },
  });
}
