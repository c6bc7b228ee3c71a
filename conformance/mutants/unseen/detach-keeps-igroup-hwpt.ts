/**
 * R19-C2 — detach-keeps-igroup-hwpt (drivers/iommu/iommufd/device.c
 * iommufd_hw_pagetable_detach, 6.12).
 *
 * 6.12 keeps, per iommu_group bound to a context, the HWPT the whole group is
 * attached to (igroup->hwpt) and the list of its attached devices. The first
 * device of the group to attach attaches the group and records the HWPT; every
 * later attach of a device of the group must name that same HWPT; the last
 * device to detach detaches the group and forgets the HWPT:
 *
 *     struct iommufd_hw_pagetable *
 *     iommufd_hw_pagetable_detach(struct iommufd_device *idev, ioasid_t pasid)
 *     {
 *             struct iommufd_hw_pagetable *hwpt = idev->igroup->hwpt;
 *             ...
 *             mutex_lock(&idev->igroup->lock);
 *             list_del(&idev->group_item);
 *             if (list_empty(&idev->igroup->device_list)) {
 *                     iommufd_hwpt_detach_device(hwpt, idev, pasid);
 *                     idev->igroup->hwpt = NULL;
 *             }
 *             ...
 *
 * THE FAULT: `idev->igroup->hwpt = NULL;` is lost (it went with the
 * attach-handle rework that moved the detach into iommufd_hwpt_detach_device,
 * which now owns "the group leaves the domain"): the group is detached from the
 * domain — its DMA is blocked, the device list is empty — but igroup->hwpt
 * still names the HWPT it left, and keeps naming it while any device of the
 * group stays bound (the iommufd_group lives as long as a bound device holds
 * it; iommufd_group_release only WARNs about it). Nothing holds a reference
 * for that pointer: the HWPT can be destroyed (an automatic HWPT is destroyed
 * at once by the very detach), and the group then points at freed memory.
 *
 * The detach itself answers correctly, DMA is blocked as it must be, and the
 * counts are right. What breaks shows only in a later command on another
 * object: iommufd_hw_pagetable_attach compares the new HWPT with the stale
 * pointer,
 *
 *     if (idev->igroup->hwpt != NULL && idev->igroup->hwpt != hwpt) {
 *             rc = -EINVAL;
 *             goto err_unlock;
 *     }
 *
 * so once a group has been detached, none of its devices can be attached to
 * any other HWPT again until every device of the group is unbound:
 * VFIO_DEVICE_ATTACH_IOMMUFD_PT by HWPT id fails with EINVAL, and by IOAS id
 * every automatic HWPT is "incompatible" and the new one allocated in
 * immediate-attach mode is refused too (EINVAL) — even the IOAS the device was
 * attached to a moment ago, when its automatic HWPT went away with the detach.
 * (A re-attach to the very HWPT it left still works, as long as that HWPT
 * lives.) A VMM that detaches a device across a guest reset, or moves it
 * between address spaces by detach + attach, loses the device.
 *
 * 6.12 only: 7.3 keeps the HWPT in a struct iommufd_attach that the last
 * detach frees together with its igroup->pasid_attach entry; on 7.3 the
 * mutant is the reference.
 *
 * Applied as: every iommufd_group of a 6.12 context gets its `hwpt` field as
 * an accessor that ignores the NULL store of iommufd_hw_pagetable_detach (the
 * only place the reference clears it) and a `ref` accessor that drops the
 * stale pointer when the group is released (the kernel's WARN_ON in
 * iommufd_group_release, then kfree); everything else is the reference's.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import type { IommufdCtx, IommufdGroup, IommufdHwpt } from '../../../impl/iommufd/iommufd_private.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';

/** The group's fields as the faulty 6.12 code leaves them. */
function patchGroup(ctx: IommufdCtx, igroup: IommufdGroup): void {
  let hwpt: IommufdHwpt | null = igroup.hwpt;
  let ref = igroup.ref;
  Object.defineProperty(igroup, 'hwpt', {
    configurable: true,
    enumerable: true,
    get: () => hwpt,
    set: (next: IommufdHwpt | null) => {
      // THE FAULT: the last detach's `idev->igroup->hwpt = NULL` is missing.
      if (next === null && hwpt !== null && igroup.deviceList.length === 0) return;
      hwpt = next;
    },
  });
  Object.defineProperty(igroup, 'ref', {
    configurable: true,
    enumerable: true,
    get: () => ref,
    set: (next: number) => {
      ref = next;
      if (ref <= 0 && hwpt !== null && igroup.deviceList.length === 0) {
        // iommufd_group_release: WARN_ON(igroup->hwpt || ...), then the igroup is freed anyway.
        ctx.warnings.push(`iommufd_group_release: group ${igroup.group.id} still names HWPT ${hwpt.id}`);
        hwpt = null;
      }
    },
  });
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('detach-keeps-igroup-hwpt', profile, {
    ctx: (ctx) => {
      if (ctx.profile !== '6.12') return;
      patchOwn(ctx.groups, 'set', (set) => (key, igroup) => {
        if (ctx.groups.get(key) !== igroup) patchGroup(ctx, igroup);
        return set(key, igroup);
      });
    },
  });
}
