/**
 * struct iommufd_group: iommufd's per-ctx state of one iommu_group — the HWPT
 * the whole group is attached to, and the list of the group's devices that
 * are attached (each device attaches individually, to the same HWPT).
 * Mirrors drivers/iommu/iommufd/device.c: iommufd_get_group,
 * iommufd_put_group, iommufd_group_release, iommufd_device_is_attached.
 *
 * One iommufd_group exists per (ctx, iommu_group) while any bound device of
 * the group holds a reference; it is kept in a per-ctx map (ictx->groups)
 * owned here, so CORE's ctx needs no field for it.
 *
 * Public: class IommufdGroup, iommufdGetGroup(ctx, dev) -> Result,
 * iommufdPutGroup(igroup), iommufdCtxGroups(ctx).
 */
import { ENOMEM } from './errno.ts';
import type { ObjectCtx, Result } from './object.ts';
import type { IommuGroup, SimDevice } from '../platform/machine.ts';
import type { IommufdHwpt } from './hw_pagetable.ts';
import type { IommufdDevice } from './device.ts';

/** PHYS_ADDR_MAX: no IOMMU_RESV_SW_MSI region seen yet. */
export const PHYS_ADDR_MAX = (1n << 64n) - 1n;

export class IommufdGroup {
  ref = 1;
  /** The HWPT every attached device of the group uses; null = none (blocked). */
  hwpt: IommufdHwpt | null = null;
  /** Attached devices, in attach order (igroup->device_list). */
  readonly deviceList: IommufdDevice[] = [];
  /** Start of the software MSI window (IOMMU_RESV_SW_MSI), for the MSI cookie. */
  swMsiStart = PHYS_ADDR_MAX;
  constructor(
    readonly ictx: ObjectCtx,
    readonly group: IommuGroup,
  ) {}
}

const ctxGroups = new WeakMap<ObjectCtx, Map<number, IommufdGroup>>();

/** ictx->groups */
export function iommufdCtxGroups(ctx: ObjectCtx): Map<number, IommufdGroup> {
  let m = ctxGroups.get(ctx);
  if (!m) {
    m = new Map();
    ctxGroups.set(ctx, m);
  }
  return m;
}

/** iommufd_get_group: the ctx's igroup for dev's group (new one on first use; kzalloc may fail). */
export function iommufdGetGroup(ctx: ObjectCtx & { readonly faults: { shouldFail(): boolean } }, dev: SimDevice): Result<IommufdGroup> {
  const groups = iommufdCtxGroups(ctx);
  const cur = groups.get(dev.group.id);
  if (cur) {
    cur.ref++;
    return { errno: 0, value: cur };
  }
  if (ctx.faults.shouldFail()) return { errno: ENOMEM };
  const igroup = new IommufdGroup(ctx, dev.group);
  groups.set(dev.group.id, igroup);
  return { errno: 0, value: igroup };
}

/** iommufd_put_group / iommufd_group_release */
export function iommufdPutGroup(igroup: IommufdGroup): void {
  igroup.ref--;
  if (igroup.ref > 0) return;
  if (igroup.hwpt || igroup.deviceList.length) throw new Error('iommufd_group_release: group still attached');
  const groups = iommufdCtxGroups(igroup.ictx);
  if (groups.get(igroup.group.id) === igroup) groups.delete(igroup.group.id);
}

/** iommufd_device_is_attached */
export function iommufdDeviceIsAttached(idev: IommufdDevice): boolean {
  return idev.igroup.deviceList.includes(idev);
}
