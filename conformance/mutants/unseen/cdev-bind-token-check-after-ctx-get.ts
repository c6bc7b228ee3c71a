/**
 * cdev-bind-token-check-after-ctx-get (drivers/vfio/device_cdev.c,
 * vfio_df_ioctl_bind_iommufd; 7.3 only: 6.12 has no VF token on BIND).
 *
 * The kernel (7.3) checks the VF token before it takes anything:
 *     mutex_lock(&device->dev_set->lock);
 *     if (df->access_granted) {
 *             ret = -EINVAL;
 *             goto out_unlock;
 *     }
 *     ret = vfio_df_check_token(device, &bind);
 *     if (ret)
 *             goto out_unlock;
 *     df->iommufd = iommufd_ctx_from_fd(bind.iommufd);
 *     if (IS_ERR(df->iommufd)) { ...; goto out_unlock; }
 *     vfio_df_get_kvm_safe(df);
 *     ret = vfio_df_open(df);
 *     if (ret)
 *             goto out_put_kvm;
 *     ...
 * out_put_kvm:
 *     vfio_device_put_kvm(device);
 *     iommufd_ctx_put(df->iommufd);
 *     df->iommufd = NULL;
 * out_unlock:
 *
 * THE FAULT: the token check sits after iommufd_ctx_from_fd() (as if the
 * token series had been rebased onto a tree where the check was placed next
 * to vfio_df_open, "once we know which iommufd we bind to"), but keeps its
 * original `goto out_unlock`. A BIND with VFIO_DEVICE_BIND_FLAG_TOKEN on a
 * plain device still fails (EINVAL, or EFAULT for an unreadable token) — and
 * an invalid iommufd now answers EBADF/EBADFD first instead of the token's
 * errno — but the reference iommufd_ctx_from_fd() took on the iommufd file is
 * never put.
 *
 * Observable: after the user closes every fd of that iommufd, the context is
 * not released: its IOASes, mock domains and accesses live on, the pages they
 * pinned stay pinned and charged (pin_count, pinned_vm / locked_vm), and the
 * groups of devices bound there keep their DMA ownership. The kernel frees
 * all of it on the last close.
 */
import { EBADF, EFAULT, EINVAL } from '../../../impl/lib/errno.ts';
import { VFIO_DEVICE_BIND_FLAG_TOKEN } from '../../../spec/uapi/constants.ts';
import { Unwind } from '../../../impl/lib/unwind.ts';
import { layoutOf, UcmdStruct } from '../../../impl/iommufd/ucmd.ts';
import { iommufdCtxFromFile } from '../../../impl/iommufd/iommufd_private.ts';
import { vfioDeviceIoctlDecode } from '../../../impl/iommufd/vfio_cdev.ts';
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation } from '../harness.ts';
import { dfClose, dfOpen } from './_cdev_bind.ts';

/** sizeof(uuid_t) */
const UUID_SIZE = 16;

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('cdev-bind-token-check-after-ctx-get', profile, {
    vfioIoctl: (df, cmd, arg, original) => {
      const d = vfioDeviceIoctlDecode(df, cmd, arg);
      if (df.profile !== '7.3' || !d.ok || d.kind !== 'vfio-argsz' || d.command.name !== 'VFIO_DEVICE_BIND_IOMMUFD') return original();
      const bind = new UcmdStruct(layoutOf(d.command.struct ?? '', df.profile), d.bytes);
      const { proc } = df;
      const flags = bind.num('flags');
      const fd = bind.num('iommufd') | 0; // s32
      if (fd < 0 || flags & ~VFIO_DEVICE_BIND_FLAG_TOKEN) return -EINVAL;
      if (df.accessGranted) return -EINVAL;
      // iommufd_ctx_from_fd
      const file = proc.fds.fget(fd);
      if (!file) return -EBADF;
      const unwind = new Unwind();
      unwind.onError('out_put_file', () => file.put());
      const c = iommufdCtxFromFile(file);
      if (c.errno || !c.value) return unwind.exit(c.errno);
      // THE FAULT: vfio_df_check_token() here, failing with `goto out_unlock`: the ctx reference is kept.
      if (flags & VFIO_DEVICE_BIND_FLAG_TOKEN) {
        if (!proc.copyFromUser(bind.big('token_uuid_ptr'), UUID_SIZE)) return -EFAULT;
        return -EINVAL;
      }
      df.iommufd = { ctx: c.value, file };
      unwind.onError('df->iommufd = NULL', () => (df.iommufd = null));
      const rc = dfOpen(df);
      if (rc) return unwind.exit(rc);
      unwind.onError('out_close_device', () => dfClose(df));
      bind.set('out_devid', df.devid);
      if (!proc.copyToUser(arg + BigInt(bind.offsetOf('out_devid')), bind.fieldBytes('out_devid'))) return unwind.exit(-EFAULT);
      df.accessGranted = true;
      return unwind.exit(0);
    },
  });
}
