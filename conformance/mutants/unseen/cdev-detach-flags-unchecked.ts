/**
 * Round 37 fault (VFIO cdev, errno / confinement): drivers/vfio/device_cdev.c
 * vfio_df_ioctl_detach_pt loses its flags check.
 *
 * Correct (6.12):
 *     minsz = offsetofend(struct vfio_device_detach_iommufd_pt, flags);
 *     if (copy_from_user(&detach, arg, minsz))
 *             return -EFAULT;
 *     if (detach.argsz < minsz || detach.flags)
 *             return -EINVAL;
 * Correct (7.3):
 *     if (detach.argsz < minsz)
 *             return -EINVAL;
 *     if (detach.flags & ~VFIO_DEVICE_DETACH_PASID)
 *             return -EINVAL;
 *
 * Fault: the flags test is dropped (6.12: `|| detach.flags` lost when the
 * argsz test was split out; 7.3: the `~VFIO_DEVICE_DETACH_PASID` test lost
 * when the PASID branch was added), so unknown flag bits are ignored.
 *
 * What a user sees: VFIO_DEVICE_DETACH_IOMMUFD_PT with an undefined flag bit
 * succeeds and detaches the device (its DMA is blocked, its HWPT reference
 * dropped, an auto domain destroyed) instead of failing with EINVAL and
 * leaving the attachment alone; a future flag is silently taken as a RID
 * detach. On 7.3 a PASID request with an extra unknown bit answers the PASID
 * path's EOPNOTSUPP instead of EINVAL. Both profiles.
 */
import { VFIO_DEVICE_DETACH_PASID } from '../../../spec/uapi/constants.ts';
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { layoutOf, UcmdStruct } from '../../../impl/iommufd/ucmd.ts';
import { vfioDeviceIoctlDecode, vfioDfIoctlDetachPt } from '../../../impl/iommufd/vfio_cdev.ts';
import { mutantImplementation } from '../harness.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('cdev-detach-flags-unchecked', profile, {
    vfioIoctl: (df, cmd, arg, original) => {
      const d = vfioDeviceIoctlDecode(df, cmd, arg);
      if (!d.ok || d.kind !== 'vfio-argsz' || d.command.name !== 'VFIO_DEVICE_DETACH_IOMMUFD_PT') return original();
      const s = new UcmdStruct(layoutOf(d.command.struct ?? '', df.profile), d.bytes);
      const flags = s.num('flags');
      const known = df.profile === '6.12' ? 0 : VFIO_DEVICE_DETACH_PASID;
      if (!(flags & ~known)) return original();
      // The flags test that is gone: only the bits a later test looks at survive.
      s.set('flags', flags & known);
      return vfioDfIoctlDetachPt(df, s);
    },
  });
}
