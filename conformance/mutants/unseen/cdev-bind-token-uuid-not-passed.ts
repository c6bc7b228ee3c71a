/**
 * cdev-bind-token-uuid-not-passed (drivers/vfio/device_cdev.c
 * vfio_df_check_token, called by vfio_df_ioctl_bind_iommufd; 7.3 only — 6.12
 * has no VFIO_DEVICE_BIND_FLAG_TOKEN).
 *
 * VFIO_DEVICE_BIND_IOMMUFD with VFIO_DEVICE_BIND_FLAG_TOKEN hands the driver
 * the VF token the caller read from token_uuid_ptr; vfio-pci refuses a token
 * on a device that is neither a VF nor a PF with a VF token
 * (vfio_pci_validate_vf_token: "VF token incorrectly provided, not a PF or
 * VF", -EINVAL), and checks a given token against the PF's:
 *
 *     static int vfio_df_check_token(struct vfio_device *device,
 *                                    const struct vfio_device_bind_iommufd *bind)
 *     {
 *             uuid_t uuid;
 *
 *             if (!device->ops->match_token_uuid) {
 *                     if (bind->flags & VFIO_DEVICE_BIND_FLAG_TOKEN)
 *                             return -EINVAL;
 *                     return 0;
 *             }
 *
 *             if (!(bind->flags & VFIO_DEVICE_BIND_FLAG_TOKEN))
 *                     return device->ops->match_token_uuid(device, NULL);
 *
 *             if (copy_from_user(&uuid, u64_to_user_ptr(bind->token_uuid_ptr),
 *                                sizeof(uuid)))
 *                     return -EFAULT;
 *             return device->ops->match_token_uuid(device, &uuid);
 *     }
 *
 * THE FAULT: the function is written with one exit through a pointer that is
 * set when the flag is given — and the assignment is forgotten:
 *
 *             const uuid_t *token = NULL;
 *             ...
 *             if (bind->flags & VFIO_DEVICE_BIND_FLAG_TOKEN) {
 *                     if (copy_from_user(&uuid, ..., sizeof(uuid)))
 *                             return -EFAULT;
 *                     // token = &uuid;  -- missing
 *             }
 *             return device->ops->match_token_uuid(device, token);
 *
 * The uuid is still read (a bad token_uuid_ptr is still EFAULT), but the
 * driver is always asked about "no token". On the simulated devices (plain
 * PFs, no SR-IOV) that is 0, so a bind that gives a token the device has no
 * use for succeeds instead of failing EINVAL: the device is bound to the
 * iommufd (an id, DMA ownership of its group, the iommufd file referenced)
 * by a call the kernel refuses, and every later ioctl on the file sees a
 * bound device. (On a VF or a PF with a VF token the token would be ignored
 * — a VF opened without the PF owner's secret.)
 *
 * Observable: on 7.3, VFIO_DEVICE_BIND_IOMMUFD with the TOKEN flag and a
 * readable token succeeds (out_devid set) instead of EINVAL; ATTACH on that
 * file then works instead of EINVAL (not bound).
 *
 * Applied as: a vfioIoctl hook; for BIND with the TOKEN flag (the argument's
 * earlier checks passed, as the reference makes them) the token is read, then
 * the bind continues as the reference's own flag-less bind (the shared
 * _cdev_bind.ts copy with the reference's steps).
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { EFAULT } from '../../../impl/lib/errno.ts';
import { VFIO_DEVICE_BIND_FLAG_TOKEN } from '../../../spec/uapi/constants.ts';
import { layoutOf, UcmdStruct } from '../../../impl/iommufd/ucmd.ts';
import { vfioDeviceIoctlDecode } from '../../../impl/iommufd/vfio_cdev.ts';
import { mutantImplementation } from '../harness.ts';
import { bindIommufdWith } from './_cdev_bind.ts';

/** sizeof(uuid_t) */
const UUID_SIZE = 16;

export function createAdapter(profile: Profile): Implementation {
  const bindIommufd = bindIommufdWith({});
  return mutantImplementation('cdev-bind-token-uuid-not-passed', profile, {
    vfioIoctl: (df, cmd, arg, original) => {
      if (df.profile !== '7.3') return original();
      const d = vfioDeviceIoctlDecode(df, cmd, arg);
      if (!d.ok || d.kind !== 'vfio-argsz' || d.command.name !== 'VFIO_DEVICE_BIND_IOMMUFD') return original();
      const bind = new UcmdStruct(layoutOf(d.command.struct ?? '', df.profile), d.bytes.slice());
      const flags = bind.num('flags');
      const fd = bind.num('iommufd') | 0;
      // The checks before vfio_df_check_token are the reference's.
      if (!(flags & VFIO_DEVICE_BIND_FLAG_TOKEN) || fd < 0 || flags & ~VFIO_DEVICE_BIND_FLAG_TOKEN || df.accessGranted) return original();
      if (!df.proc.copyFromUser(bind.big('token_uuid_ptr'), UUID_SIZE)) return -EFAULT;
      // THE FAULT: match_token_uuid(device, NULL): the plain PF accepts "no token"; bind as without the flag.
      bind.set('flags', 0);
      return bindIommufd(df, bind, arg);
    },
  });
}
