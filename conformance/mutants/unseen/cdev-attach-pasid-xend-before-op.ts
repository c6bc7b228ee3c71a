/**
 * RT43-C2 — cdev-attach-pasid-xend-before-op (drivers/vfio/device_cdev.c
 * vfio_df_ioctl_attach_pt; 7.3 only: 6.12 has no VFIO_DEVICE_ATTACH_PASID).
 *
 * VFIO_DEVICE_ATTACH_IOMMUFD_PT with VFIO_DEVICE_ATTACH_PASID first asks the
 * driver whether it attaches PASIDs at all, and only then extends the copy
 * to the pasid field (argsz must reach it):
 *
 *     if (attach.flags & VFIO_DEVICE_ATTACH_PASID) {
 *             if (!device->ops->pasid_attach_ioas)
 *                     return -EOPNOTSUPP;
 *             xend = offsetofend(struct vfio_device_attach_iommufd_pt, pasid);
 *     }
 *
 *     if (xend) {
 *             if (attach.argsz < xend)
 *                     return -EINVAL;
 *             ...copy_from_user(pasid)...
 *
 * THE FAULT: the extension bound is computed from the flag alone and tested
 * before the op check (the "if (xend)" block moved above the op test, as when
 * the flag parsing is shared with DETACH):
 *
 *     if (attach.flags & VFIO_DEVICE_ATTACH_PASID)
 *             xend = offsetofend(struct vfio_device_attach_iommufd_pt, pasid);
 *     if (xend && attach.argsz < xend)
 *             return -EINVAL;
 *     if ((attach.flags & VFIO_DEVICE_ATTACH_PASID) && !device->ops->pasid_attach_ioas)
 *             return -EOPNOTSUPP;
 *
 * What a user sees: a VMM probing PASID support with an old-size struct
 * (argsz = offsetofend(pt_id)) on a device whose driver cannot attach PASIDs
 * gets EINVAL ("malformed argument") instead of EOPNOTSUPP ("not supported
 * here"), and so concludes its struct is wrong instead of falling back to
 * RID-only attachment. Every simulated device's driver lacks
 * pasid_attach_ioas, so the reference answers EOPNOTSUPP for any argsz >= minsz.
 *
 * Applied as: on 7.3, ATTACH_IOMMUFD_PT whose flags are exactly
 * VFIO_DEVICE_ATTACH_PASID (no unknown bit: those are EINVAL in both) with
 * argsz < offsetofend(pasid) answers EINVAL.
 */
import { EINVAL } from '../../../impl/lib/errno.ts';
import { VFIO_DEVICE_ATTACH_PASID } from '../../../spec/uapi/constants.ts';
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { layoutOf, UcmdStruct } from '../../../impl/iommufd/ucmd.ts';
import { vfioDeviceIoctlDecode } from '../../../impl/iommufd/vfio_cdev.ts';
import { mutantImplementation } from '../harness.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('cdev-attach-pasid-xend-before-op', profile, {
    vfioIoctl: (df, cmd, arg, original) => {
      if (df.profile !== '7.3') return original();
      const d = vfioDeviceIoctlDecode(df, cmd, arg);
      if (!d.ok || d.kind !== 'vfio-argsz' || d.command.name !== 'VFIO_DEVICE_ATTACH_IOMMUFD_PT') return original();
      const layout = layoutOf(d.command.struct ?? '', df.profile);
      const s = new UcmdStruct(layout, d.bytes);
      const flags = s.num('flags');
      if (flags !== VFIO_DEVICE_ATTACH_PASID) return original();
      const xend = s.offsetOf('pasid') + 4; // offsetofend(struct vfio_device_attach_iommufd_pt, pasid)
      if (d.size < xend) return -EINVAL; // THE FAULT: tested before the op check
      return original();
    },
  });
}
