/**
 * Round 5a fault (VFIO cdev bind, iommufd context lifetime):
 * vfio_df_ioctl_bind_iommufd (drivers/vfio/device_cdev.c) makes its "one
 * device cannot be bound twice" check (df->access_granted) only after
 * iommufd_ctx_from_fd() has already been stored in df->iommufd, and the
 * check's error path is the plain `goto out_unlock` it always had:
 *
 *     df->iommufd = iommufd_ctx_from_fd(bind.iommufd);
 *     ...
 *     if (df->access_granted) { ret = -EINVAL; goto out_unlock; }
 *
 * A second VFIO_DEVICE_BIND_IOMMUFD on a bound file still fails with EINVAL,
 * but it has overwritten df->iommufd: the reference on the context the file
 * was really bound to is lost, and the new context's reference is the one
 * vfio_df_unbind_iommufd will later drop.
 *
 * Consequence: the iommufd the device was bound to can never be freed
 * (iommufd_fops_release never runs). After the process closes the device
 * file and the iommufd, every object of that context stays: a HWPT from
 * IOMMU_HWPT_ALLOC keeps its domain filled, so every page the IOAS maps stays
 * pinned and charged (pinned_vm/locked_vm) with no fd left to unmap it; a
 * selftest mock device or access the context owns is never destroyed. (The
 * kernel would also drop a reference on the wrong context at close.) The
 * second context named in the failed bind is held until the device file
 * closes, though nothing uses it.
 *
 * Applied as: a BIND on a file that is already bound takes a reference on
 * the named iommufd, stores it as df->iommufd (leaking the old one) and
 * answers EINVAL; bad flags, a negative fd, a token, a bad fd or a non-iommufd
 * fd keep the reference's own answer except that iommufd_ctx_from_fd's
 * EBADF/EBADFD now comes before the EINVAL.
 */
import { EBADF, EINVAL } from '../../../impl/lib/errno.ts';
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { commandByName } from '../../../spec/uapi/lookup.ts';
import { VFIO_DEVICE_BIND_FLAG_TOKEN } from '../../../spec/uapi/constants.ts';
import { iommufdCtxFromFile } from '../../../impl/iommufd/iommufd_private.ts';
import { layoutOf, UcmdStruct } from '../../../impl/iommufd/ucmd.ts';
import { vfioDeviceIoctlDecode } from '../../../impl/iommufd/vfio_cdev.ts';
import { mutantImplementation } from '../harness.ts';


export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('cdev-rebind-overwrites-ictx', profile, {
    vfioIoctl: (df, cmd, arg, original) => {
      if (cmd !== commandByName(df.profile, 'VFIO_DEVICE_BIND_IOMMUFD')?.request || !df.accessGranted) return original();
      // The argsz / copy_struct_from_user rules first (EINVAL, E2BIG, EFAULT): the reference's own answer.
      const d = vfioDeviceIoctlDecode(df, cmd, arg);
      if (!d.ok || d.kind !== 'vfio-argsz') return original();
      const bind = new UcmdStruct(layoutOf('vfio_device_bind_iommufd', df.profile), d.bytes);
      const flags = bind.num('flags');
      const fd = bind.num('iommufd') | 0;
      const validFlags = df.profile === '6.12' ? 0 : VFIO_DEVICE_BIND_FLAG_TOKEN;
      if (fd < 0 || flags & ~validFlags || flags & VFIO_DEVICE_BIND_FLAG_TOKEN) return original();
      const file = df.proc.fds.fget(fd);
      if (!file) return -EBADF;
      const c = iommufdCtxFromFile(file);
      if (c.errno || !c.value) {
        file.put();
        return c.errno;
      }
      df.iommufd = { ctx: c.value, file }; // the old context's reference is lost
      return -EINVAL;
    },
  });
}
