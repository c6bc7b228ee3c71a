/**
 * cdev-open-exclusive-off-by-one (drivers/vfio/vfio_main.c vfio_df_open,
 * reached from drivers/vfio/device_cdev.c vfio_df_ioctl_bind_iommufd).
 *
 * Only the legacy group path may open a vfio_device more than once; a cdev
 * file must be the device's only opener, because the binding (the
 * iommufd_device, its DMA ownership of the group, its attachment) belongs to
 * the device, not to the file:
 *
 *     if (device->open_count != 0 && !df->group)
 *             return -EINVAL;
 *     device->open_count++;
 *     if (device->open_count == 1) {
 *             ret = vfio_df_device_first_open(df);   // iommufd bind
 *             ...
 *
 * THE FAULT: the exclusivity test is off by one,
 *
 *     if (device->open_count > 1 && !df->group)
 *
 * so a second cdev file of a device that is already bound passes: its
 * VFIO_DEVICE_BIND_IOMMUFD takes open_count to 2 and, not being the first
 * open, binds nothing (vfio_df_device_first_open is skipped) — yet it
 * succeeds, grants the file access and reports df->devid, which was never
 * set (0). A third opener is refused again.
 *
 * Consequence for a user: whoever opens the cdev node a second time and
 * binds it to any iommufd (even another context, whose DMA ownership check
 * never runs) controls the device that the first file bound to the first
 * context: its VFIO_DEVICE_ATTACH_IOMMUFD_PT / DETACH act on the first
 * binding, with pt_ids looked up in the *first* context, so it can move the
 * device between that context's IOASes/HWPTs or detach it. Conversely the
 * rightful owner loses its device on close: vfio_df_close only unbinds on
 * the last close, so after the first file is closed the device stays bound
 * to the first context and keeps DMA access to its IOAS until the second
 * file goes away, while the first context (held by the bound device) cannot
 * be released.
 *
 * Applied as: VFIO_DEVICE_BIND_IOMMUFD on a file whose device already has
 * one opener runs the reference's checks in its order and then the faulty
 * vfio_df_open; everything else (attach, detach, release, vfio_df_close's
 * last-close unbind) is the reference's own code acting on the shared
 * vfio_device.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation } from '../harness.ts';
import { EINVAL } from '../../../impl/lib/errno.ts';
import type { VfioDeviceFile } from '../../../impl/iommufd/vfio_cdev.ts';
import { bindHook, dfOpen } from './_cdev_bind.ts';

/** vfio_df_open with THE FAULT: `open_count > 1` lets the second opener in (not the first open, so nothing is bound and df->devid stays 0). */
function dfOpenOffByOne(df: VfioDeviceFile): number {
  const vdev = df.device;
  if (vdev.openCount > 1) return -EINVAL;
  if (vdev.openCount === 0) return dfOpen(df);
  vdev.openCount++;
  return 0;
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('cdev-open-exclusive-off-by-one', profile, { vfioIoctl: bindHook({ open: dfOpenOffByOne }) });
}
