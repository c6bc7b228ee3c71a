/**
 * Shared by the faults that can leave a VFIO device file's iommufd device referenced at close:
 * vfio_device_fops_release → vfio_df_unbind_iommufd where the device side cannot finish (the
 * kernel WARNs and leaves the object in place), as one patch of every device file's release.
 */
import { VfioDeviceFile } from '../../../impl/iommufd/vfio_cdev.ts';
import { iommufdDeviceDetach } from '../../../impl/iommufd/device.ts';
import type { IommufdDevice } from '../../../impl/iommufd/iommufd_private.ts';
import type { IommufdObject } from '../../../impl/iommufd/object.ts';
import type { SimDevice } from '../../../impl/platform/iommu.ts';
import type { KFile } from '../../../impl/process/file.ts';
import { patchOwn, type MutantHooks } from '../harness.ts';

/** The rest of vfio_df_unbind_iommufd once the device side is dealt with: the file forgets its binding and drops its context reference. */
export function dropFileBinding(df: VfioDeviceFile): void {
  df.accessGranted = false;
  const ref = df.iommufd;
  df.iommufd = null;
  ref?.file.put();
  df.device.openFiles--;
}

/**
 * A `process` hook: every VFIO device file the process installs is released by `instead` first;
 * where it returns true (it released the file its own way), the reference's release does not run.
 */
export function releaseInstead(instead: (df: VfioDeviceFile) => boolean): NonNullable<MutantHooks['process']> {
  const wrap = (file: KFile): void => {
    if (file.kind !== 'vfio-device' || !(file.private_data instanceof VfioDeviceFile)) return;
    const df = file.private_data;
    const ops = file.ops;
    Object.defineProperty(file, 'ops', {
      value: { ...ops, release: (f: KFile) => (instead(df) ? undefined : ops.release(f)) },
      writable: false,
      configurable: true,
      enumerable: true,
    });
  };
  return (proc) => {
    patchOwn(proc.fds, 'fdInstall', (fdInstall) => (fd, file) => {
      fdInstall(fd, file);
      wrap(file);
    });
  };
}

/**
 * iommufd_device_unbind → iommufd_object_destroy_user on a device object a
 * fault left an extra reference on: the wait for the other references times
 * out, the caller's users reference is dropped, WARN_ON; the object stays.
 */
function unbindLeaks(idev: IommufdDevice): void {
  idev.users--;
  idev.ictx.warnings.push(`iommufd_object_destroy_user: device ${idev.id} still referenced (users ${idev.users}); left in place`);
}

/** struct selftest_obj as the reference stores it. */
type SelftestObj = IommufdObject & { mockDev: SimDevice | null; idev: IommufdDevice | null };

/**
 * The hooks of a fault that leaves extra references on device objects
 * (`leaks` says which): a VFIO device file's release (vfio_df_unbind_iommufd:
 * detach, the WARN path of the unbind, the file's own context reference) and
 * a selftest object's destroy (iommufd_selftest_destroy: detach, the same
 * unbind, mock_dev_destroy) go the kernel's way for such a device.
 */
export function leakedDeviceHooks(leaks: (idev: IommufdDevice) => boolean): Pick<MutantHooks, 'object' | 'process'> {
  const releaseLeakingDevice = (df: VfioDeviceFile): boolean => {
    const vdev = df.device;
    const idev = vdev.iommufdDevice;
    if (!df.accessGranted || vdev.openCount !== 1 || !idev || !leaks(idev)) return false;
    // vfio_iommufd_physical_unbind
    if (vdev.iommufdAttached) {
      iommufdDeviceDetach(idev);
      vdev.iommufdAttached = false;
    }
    unbindLeaks(idev);
    vdev.iommufdDevice = null;
    vdev.openCount--;
    dropFileBinding(df);
    return true;
  };
  return {
    object: (obj) => {
      if (obj.type !== 'SELFTEST') return;
      const sobj = obj as SelftestObj;
      patchOwn(sobj as IommufdObject, 'destroy', (destroy) => () => {
        const idev = sobj.idev;
        if (!idev || !leaks(idev)) return destroy();
        iommufdDeviceDetach(idev);
        unbindLeaks(idev);
        if (sobj.mockDev) sobj.mockDev.machine.mockDevDestroy(sobj.mockDev);
      });
    },
    process: releaseInstead(releaseLeakingDevice),
  };
}
