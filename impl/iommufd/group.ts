/**
 * struct iommufd_group: iommufd's per-ctx state of one iommu_group (the
 * struct is iommufd_private.ts's). One exists per (ctx, iommu_group) while a
 * bound device of the group holds a reference, kept in ctx->groups. Mirrors
 * drivers/iommu/iommufd/device.c: iommufd_get_group, iommufd_put_group,
 * iommufd_group_release, iommufd_device_is_attached.
 *
 * Public: iommufdGetGroup(ctx, dev) -> Result, iommufdPutGroup(igroup),
 * iommufdDeviceIsAttached(idev).
 */
import { ENOMEM } from '../lib/errno.ts';
import type { SimDevice } from '../platform/iommu.ts';
import type { Result } from './object.ts';
import { type IommufdCtx, type IommufdDevice, IommufdGroup } from './iommufd_private.ts';

/** iommufd_get_group: the ctx's igroup for dev's group (a new one on first use; kzalloc may fail, -ENOMEM). */
export function iommufdGetGroup(ctx: IommufdCtx, dev: SimDevice): Result<IommufdGroup> {
  const cur = ctx.groups.get(dev.group.id);
  if (cur) {
    cur.ref++;
    return { errno: 0, value: cur };
  }
  if (ctx.faults.shouldFail()) return { errno: -ENOMEM };
  const igroup = new IommufdGroup(ctx, dev.group);
  ctx.groups.set(dev.group.id, igroup);
  return { errno: 0, value: igroup };
}

/**
 * iommufd_put_group / iommufd_group_release. A group released while it is
 * still attached is a reference counted wrong (6.12 WARN_ON(igroup->hwpt ||
 * !list_empty(&igroup->device_list)); 7.3 warns of PASID attachments only):
 * the kernel warns and frees it anyway, as the reference does (ctx.warnings).
 */
export function iommufdPutGroup(igroup: IommufdGroup): void {
  igroup.ref--;
  if (igroup.ref > 0) return;
  if (igroup.hwpt || igroup.deviceList.length) igroup.ictx.warnings.push(`iommufd_group_release: group ${igroup.group.id} released while attached`);
  const groups = igroup.ictx.groups;
  if (groups.get(igroup.group.id) === igroup) groups.delete(igroup.group.id);
}

/** iommufd_device_is_attached */
export function iommufdDeviceIsAttached(idev: IommufdDevice): boolean {
  return idev.igroup.deviceList.includes(idev);
}
