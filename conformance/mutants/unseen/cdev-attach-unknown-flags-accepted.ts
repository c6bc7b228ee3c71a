/**
 * Round 41 fault C3 (abi-hygiene, 7.3 only): drivers/vfio/device_cdev.c
 * vfio_df_ioctl_attach_pt loses its unknown-flags test when the PASID flag
 * was added. The kernel (7.3):
 *
 *     if (attach.argsz < minsz)
 *         return -EINVAL;
 *
 *     if (attach.flags & ~VFIO_DEVICE_ATTACH_PASID)
 *         return -EINVAL;
 *
 *     if (attach.flags & VFIO_DEVICE_ATTACH_PASID) { ... -EOPNOTSUPP / xend ... }
 *
 * The fault drops the `~VFIO_DEVICE_ATTACH_PASID` test: any flags other
 * than ATTACH_PASID are ignored.
 *
 * What a user sees: VFIO_DEVICE_ATTACH_IOMMUFD_PT with undefined flag bits
 * (and no PASID bit) succeeds and attaches the device (pt_id written back)
 * instead of EINVAL, so those bits can never be given a meaning later; with
 * ATTACH_PASID plus undefined bits it answers EOPNOTSUPP instead of EINVAL.
 * 6.12 (flags must be 0) is unchanged.
 */
import { EOPNOTSUPP } from '../../../impl/lib/errno.ts';
import { VFIO_DEVICE_ATTACH_PASID } from '../../../spec/uapi/constants.ts';
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { layoutOf, UcmdStruct } from '../../../impl/iommufd/ucmd.ts';
import { vfioDeviceIoctlDecode, vfioDfIoctlAttachPt } from '../../../impl/iommufd/vfio_cdev.ts';
import { mutantImplementation } from '../harness.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('cdev-attach-unknown-flags-accepted', profile, {
    vfioIoctl: (df, cmd, arg, original) => {
      if (profile !== '7.3') return original();
      const d = vfioDeviceIoctlDecode(df, cmd, arg);
      if (!d.ok || d.kind !== 'vfio-argsz' || d.command.name !== 'VFIO_DEVICE_ATTACH_IOMMUFD_PT') return original();
      const s = new UcmdStruct(layoutOf(d.command.struct ?? '', df.profile), d.bytes);
      const flags = s.num('flags');
      if (!(flags & ~VFIO_DEVICE_ATTACH_PASID)) return original();
      if (flags & VFIO_DEVICE_ATTACH_PASID) return -EOPNOTSUPP; // no pasid_attach_ioas
      s.set('flags', 0);
      return vfioDfIoctlAttachPt(df, s, arg);
    },
  });
}
