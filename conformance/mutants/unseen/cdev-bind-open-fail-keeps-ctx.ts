/**
 * cdev-bind-open-fail-keeps-ctx (drivers/vfio/device_cdev.c,
 * vfio_df_ioctl_bind_iommufd).
 *
 * The kernel (6.12 and 7.3) takes a reference on the iommufd file with
 * iommufd_ctx_from_fd() and, when opening the device fails, drops it through
 * out_put_kvm:
 *     df->iommufd = iommufd_ctx_from_fd(bind.iommufd);
 *     if (IS_ERR(df->iommufd)) {
 *             ret = PTR_ERR(df->iommufd);
 *             df->iommufd = NULL;
 *             goto out_unlock;
 *     }
 *     vfio_df_get_kvm_safe(df);
 *     ret = vfio_df_open(df);
 *     if (ret)
 *             goto out_put_kvm;
 *     ...
 * out_close_device:
 *     vfio_df_close(df);
 * out_put_kvm:
 *     vfio_device_put_kvm(device);
 *     iommufd_ctx_put(df->iommufd);
 *     df->iommufd = NULL;
 * out_unlock:
 *     mutex_unlock(&device->dev_set->lock);
 *
 * THE FAULT: the vfio_df_open() failure jumps to out_unlock, like the two
 * checks just above it (the access_granted check and the ctx lookup, which
 * have nothing to put) — a copy-paste of the neighbouring `goto out_unlock`.
 * The BIND still fails with the kernel's errno (EINVAL: the device is
 * already open through another file; EPERM: its group belongs to another
 * iommufd; ENOMEM ...), but the reference on the iommufd file is never put.
 *
 * Observable only later, on another object: once the user closes every fd of
 * that iommufd, the context is not released — its IOASes, HWPTs, access
 * objects and mock devices live on, every page they pinned stays pinned and
 * charged to locked_vm/pinned_vm, and the groups of devices still bound there
 * keep their DMA ownership. The real kernel frees all of it on the last close.
 *
 * Applied as: VFIO_DEVICE_BIND_IOMMUFD on a VFIO device file is
 * _cdev_bind.ts's copy of vfio_df_ioctl_bind_iommufd with that one label
 * changed.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation } from '../harness.ts';
import { bindHook } from './_cdev_bind.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('cdev-bind-open-fail-keeps-ctx', profile, {
    // THE FAULT: `goto out_unlock` instead of `goto out_put_kvm`: iommufd_ctx_put() and df->iommufd = NULL are skipped.
    vfioIoctl: bindHook({ openFailSkipsPut: true }),
  });
}
