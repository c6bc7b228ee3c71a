/**
 * Round 41 fault C2 (lifetime, both profiles): drivers/iommu/iommufd/device.c
 * iommufd_device_bind forgets the ctx reference the bound device holds. The
 * kernel, after iommufd_bind_iommu succeeded:
 *
 *     if (!iommufd_selftest_is_mock_dev(dev))
 *         iommufd_ctx_get(ictx);
 *     refcount_inc(&idev->obj.users);
 *
 * The fault drops the iommufd_ctx_get line (a refactor that moved it into
 * iommufd_bind_iommu's error-free path and lost it), while
 * iommufd_device_destroy still does its iommufd_ctx_put.
 *
 * What a user sees: every bound physical device (VFIO cdev BIND_IOMMUFD)
 * puts one reference it never took. Closing the device fd while the iommufd
 * fd stays open releases the iommufd context under the still-open fd: its
 * IOASes, HWPTs and pins are torn down, later ioctls on the iommufd fd find
 * nothing (or a freed ctx), and the final close of the iommufd fd puts a
 * reference that no longer exists.
 *
 * Applied as: after a VFIO_DEVICE_BIND_IOMMUFD that bound the file (access
 * granted), one reference on the iommufd file is put (net: the missing get).
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation } from '../harness.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('bind-skips-ctx-get', profile, {
    vfioIoctl: (df, _cmd, _arg, original) => {
      const before = df.accessGranted;
      const rc = original();
      if (rc === 0 && !before && df.accessGranted && !df.device.dev.isMock) df.iommufd?.ctx.file?.put();
      return rc;
    },
  });
}
