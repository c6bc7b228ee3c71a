/**
 * Shared by the faults that can leave a VFIO device file's iommufd device referenced at close:
 * vfio_device_fops_release → vfio_df_unbind_iommufd where the device side cannot finish (the
 * kernel WARNs and leaves the object in place), as one patch of every device file's release.
 */
import { VfioDeviceFile } from '../../../impl/iommufd/vfio_cdev.ts';
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
