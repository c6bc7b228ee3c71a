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
 * Applied as: VFIO_DEVICE_BIND_IOMMUFD runs a copy of
 * vfio_df_ioctl_bind_iommufd (6.12 and 7.3 argument rules, as the
 * reference's) whose iommufd_ctx_from_fd has THE FAULT; every other ioctl
 * and the release of the file are the reference's.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { EBADF, EFAULT, EINVAL } from '../../../impl/lib/errno.ts';
import { VFIO_DEVICE_BIND_FLAG_TOKEN } from '../../../spec/uapi/constants.ts';
import { Unwind } from '../../../impl/lib/unwind.ts';
import { layoutOf, UcmdStruct } from '../../../impl/iommufd/ucmd.ts';
import { iommufdCtxFromFile, type IommufdCtx } from '../../../impl/iommufd/iommufd_private.ts';
import { vfioDeviceIoctlDecode, type VfioDeviceFile } from '../../../impl/iommufd/vfio_cdev.ts';
import type { KFile } from '../../../impl/process/file.ts';
import type { Process } from '../../../impl/process/process.ts';
import { mutantImplementation } from '../harness.ts';
import { dfClose, dfOpen } from './_cdev_bind.ts';

/** sizeof(uuid_t): the VF token vfio_df_check_token copies. */
const UUID_SIZE = 16;

/** iommufd_ctx_from_fd with THE FAULT: the fget() reference stays on the EBADFD path. */
function ctxFromFd(proc: Process, fd: number): { errno: number; ctx?: IommufdCtx; file?: KFile } {
  const file = proc.fds.fget(fd);
  if (!file) return { errno: -EBADF };
  const c = iommufdCtxFromFile(file);
  if (c.errno || !c.value) return { errno: c.errno }; // THE FAULT: no fput(file)
  return { errno: 0, ctx: c.value, file };
}

/** vfio_df_ioctl_bind_iommufd (after the argsz rules, which the decode applied) over the faulty iommufd_ctx_from_fd. */
function bindIommufd(df: VfioDeviceFile, bind: UcmdStruct, arg: bigint): number {
  const { proc } = df;
  const flags = bind.num('flags');
  const fd = bind.num('iommufd') | 0; // s32
  if (df.profile === '6.12') {
    if (flags || fd < 0) return -EINVAL;
  } else if (fd < 0 || flags & ~VFIO_DEVICE_BIND_FLAG_TOKEN) return -EINVAL;
  // one device cannot be bound twice
  if (df.accessGranted) return -EINVAL;
  if (df.profile === '7.3' && flags & VFIO_DEVICE_BIND_FLAG_TOKEN) {
    // vfio_df_check_token → vfio_pci_core_match_token_uuid on a PF without VFs.
    if (!proc.copyFromUser(bind.big('token_uuid_ptr'), UUID_SIZE)) return -EFAULT;
    return -EINVAL;
  }
  const c = ctxFromFd(proc, fd);
  if (c.errno || !c.ctx || !c.file) return c.errno;
  const file = c.file;
  const unwind = new Unwind();
  // out_put_kvm: iommufd_ctx_put(df->iommufd); df->iommufd = NULL
  unwind.onError('out_put_kvm', () => {
    df.iommufd = null;
    file.put();
  });
  df.iommufd = { ctx: c.ctx, file };
  const rc = dfOpen(df);
  if (rc) return unwind.exit(rc);
  unwind.onError('out_close_device', () => dfClose(df));
  bind.set('out_devid', df.devid);
  if (!proc.copyToUser(arg + BigInt(bind.offsetOf('out_devid')), bind.fieldBytes('out_devid'))) return unwind.exit(-EFAULT);
  df.accessGranted = true;
  return unwind.exit(0);
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('ctx-from-fd-ebadfd-no-fput', profile, {
    vfioIoctl: (df, cmd, arg, original) => {
      const d = vfioDeviceIoctlDecode(df, cmd, arg);
      if (!d.ok || d.kind !== 'vfio-argsz' || d.command.name !== 'VFIO_DEVICE_BIND_IOMMUFD') return original();
      return bindIommufd(df, new UcmdStruct(layoutOf(d.command.struct ?? '', df.profile), d.bytes), arg);
    },
  });
}
