/**
 * cdev-bind-negative-iommufd-unchecked — drivers/vfio/device_cdev.c,
 * vfio_df_ioctl_bind_iommufd().
 *
 * Correct code (7.3; 6.12 has `if (bind.argsz < minsz || bind.flags ||
 * bind.iommufd < 0) return -EINVAL;`):
 *
 *   if (bind.iommufd < 0 || bind.flags & ~VALID_FLAGS)
 *           return -EINVAL;
 *   ...
 *   if (df->access_granted) { ret = -EINVAL; goto out_unlock; }
 *   ret = vfio_df_check_token(device, &bind);     // 7.3
 *   ...
 *   df->iommufd = iommufd_ctx_from_fd(bind.iommufd);
 *   if (IS_ERR(df->iommufd)) { ret = PTR_ERR(df->iommufd); ... }
 *
 * The fault: the `bind.iommufd < 0` half of the test is lost (the field is
 * s32 and a refactor that made the check "flags only" dropped it), so a
 * negative fd goes on to iommufd_ctx_from_fd → fget(-1), which fails.
 *
 * What a user sees: VFIO_DEVICE_BIND_IOMMUFD with iommufd = -1 answers EBADF
 * instead of EINVAL (an already-bound file still answers EINVAL from the
 * access_granted test; a 7.3 TOKEN bind still EINVAL/EFAULT from the token
 * test). The documented "iommufd < 0 → EINVAL" ABI changes.
 *
 * Applied as: VFIO_DEVICE_BIND_IOMMUFD with a negative iommufd and otherwise
 * valid flags answers what the rest of the function answers for it
 * (access_granted → EINVAL; 7.3 TOKEN → EFAULT/EINVAL; else fget → EBADF).
 * Both profiles.
 */
import { EBADF, EFAULT, EINVAL } from '../../../impl/lib/errno.ts';
import { VFIO_DEVICE_BIND_FLAG_TOKEN } from '../../../spec/uapi/constants.ts';
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { layoutOf, UcmdStruct } from '../../../impl/iommufd/ucmd.ts';
import { vfioDeviceIoctlDecode } from '../../../impl/iommufd/vfio_cdev.ts';
import { mutantImplementation } from '../harness.ts';

const UUID_SIZE = 16;

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('cdev-bind-negative-iommufd-unchecked', profile, {
    vfioIoctl: (df, cmd, arg, original) => {
      const d = vfioDeviceIoctlDecode(df, cmd, arg);
      if (!d.ok || d.kind !== 'vfio-argsz' || d.command.name !== 'VFIO_DEVICE_BIND_IOMMUFD') return original();
      const bind = new UcmdStruct(layoutOf(d.command.struct ?? '', df.profile), d.bytes);
      const flags = bind.num('flags');
      const fd = bind.num('iommufd') | 0;
      const flagsOk = df.profile === '6.12' ? flags === 0 : (flags & ~VFIO_DEVICE_BIND_FLAG_TOKEN) === 0;
      if (fd >= 0 || !flagsOk) return original();
      // THE FAULT: no `bind.iommufd < 0` test; the rest of the function runs.
      if (df.accessGranted) return -EINVAL;
      if (df.profile === '7.3' && flags & VFIO_DEVICE_BIND_FLAG_TOKEN) {
        if (!df.proc.copyFromUser(bind.big('token_uuid_ptr'), UUID_SIZE)) return -EFAULT;
        return -EINVAL;
      }
      if (!df.proc.fds.fget(fd)) return -EBADF;
      return original(); // unreachable: no file at a negative fd
    },
  });
}
