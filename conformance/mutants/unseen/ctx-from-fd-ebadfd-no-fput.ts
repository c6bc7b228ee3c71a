/**
 * ctx-from-fd-ebadfd-no-fput (drivers/iommu/iommufd/main.c
 * iommufd_ctx_from_fd, as VFIO_DEVICE_BIND_IOMMUFD calls it from
 * drivers/vfio/device_cdev.c vfio_df_ioctl_bind_iommufd).
 *
 * The bind resolves its `iommufd` field with iommufd_ctx_from_fd, whose
 * fget() reference becomes the binding's context reference — unless the
 * file turns out not to be an iommufd, in which case it is dropped:
 *
 *     struct iommufd_ctx *iommufd_ctx_from_fd(int fd)
 *     {
 *             struct file *file;
 *
 *             file = fget(fd);
 *             if (!file)
 *                     return ERR_PTR(-EBADF);
 *
 *             if (file->f_op != &iommufd_fops) {
 *                     fput(file);
 *                     return ERR_PTR(-EBADFD);
 *             }
 *             /- fget is the same as iommufd_ctx_get() -/
 *             return file->private_data;
 *     }
 *
 * THE FAULT: the fput() on the EBADFD path is lost (the function was
 * reworked around "the fget reference is the ctx reference" and the early
 * return kept only the errno):
 *
 *             if (file->f_op != &iommufd_fops)
 *                     return ERR_PTR(-EBADFD);
 *
 * VFIO_DEVICE_BIND_IOMMUFD naming any open file that is not an iommufd —
 * typically a VFIO device fd, the bound device's own or another device's —
 * still answers EBADFD and nothing looks different. But that file now
 * carries a reference no one will drop: closing its fd no longer releases
 * it. For a VFIO device file that is (or later gets) bound, the close no
 * longer unbinds: the device stays attached and DMA through its HWPT keeps
 * working after its last fd is gone, its iommu_group stays owned by the
 * context (another context binding a device of that group: EPERM), the
 * iommufd_device keeps its context alive after the iommufd fd is closed,
 * and with it every IOAS, HWPT and pinned, charged page. For an unbound
 * device file the device's registration is held (it cannot be unplugged).
 * The file of another kind (a fault queue, a vEVENTQ) keeps its object and
 * context the same way.
 *
 * Applied as: VFIO_DEVICE_BIND_IOMMUFD runs the shared copy of
 * vfio_df_ioctl_bind_iommufd (_cdev_bind.ts, 6.12 and 7.3 argument rules, as the
 * reference's) whose iommufd_ctx_from_fd has THE FAULT; every other ioctl
 * and the release of the file are the reference's.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation } from '../harness.ts';
import { bindHook } from './_cdev_bind.ts';

export function createAdapter(profile: Profile): Implementation {
  // THE FAULT: iommufd_ctx_from_fd returns ERR_PTR(-EBADFD) without fput(file).
  return mutantImplementation('ctx-from-fd-ebadfd-no-fput', profile, { vfioIoctl: bindHook({ wrongFileKept: true }) });
}
