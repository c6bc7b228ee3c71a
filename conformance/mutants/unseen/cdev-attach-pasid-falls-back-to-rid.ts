/**
 * cdev-attach-pasid-falls-back-to-rid (drivers/vfio/device_cdev.c
 * vfio_df_ioctl_attach_pt, 7.3).
 *
 * VFIO_DEVICE_ATTACH_IOMMUFD_PT with VFIO_DEVICE_ATTACH_PASID asks to attach
 * one PASID of the device (its PASID-tagged DMA) to pt_id, leaving the RID
 * (the device's untagged DMA) alone. A driver without pasid_attach_ioas
 * cannot do that and must refuse:
 *
 *     if (attach.flags & VFIO_DEVICE_ATTACH_PASID) {
 *             if (!device->ops->pasid_attach_ioas)
 *                     return -EOPNOTSUPP;
 *             xend = offsetofend(struct vfio_device_attach_iommufd_pt, pasid);
 *     }
 *     ...
 *     if (attach.flags & VFIO_DEVICE_ATTACH_PASID)
 *             ret = device->ops->pasid_attach_ioas(device, attach.pasid,
 *                                                  &attach.pt_id);
 *     else
 *             ret = device->ops->attach_ioas(device, &attach.pt_id);
 *
 * THE FAULT (a "defensive" rework of the op check): the EOPNOTSUPP test is
 * folded into the dispatch,
 *
 *     if ((attach.flags & VFIO_DEVICE_ATTACH_PASID) &&
 *         device->ops->pasid_attach_ioas)
 *             ret = device->ops->pasid_attach_ioas(...);
 *     else
 *             ret = device->ops->attach_ioas(device, &attach.pt_id);
 *
 * so on a device whose driver has no PASID support the request still reads
 * and checks the pasid tail (argsz, EFAULT) and then silently attaches — or,
 * for an attached device, replaces — the whole RID to pt_id, and succeeds
 * with the HWPT id written back as for a PASID attachment.
 * VFIO_DEVICE_DETACH_IOMMUFD_PT with the PASID flag is untouched and still
 * answers EOPNOTSUPP.
 *
 * Consequence for a user: a VMM that grants one PASID of a device access to
 * an IOAS (a guest process's address space, an SVA-like IOAS) gets a
 * success, while in fact every untagged DMA of the device now goes through
 * that IOAS: DMA without a PASID reaches memory it was never granted (or,
 * if the RID was attached elsewhere, is moved away from its own IOAS), and
 * the matching PASID detach cannot undo it.
 *
 * Applied as: 7.3 VFIO_DEVICE_ATTACH_IOMMUFD_PT with the PASID flag runs the
 * faulty path (the reference's vfio_iommufd_physical_attach_ioas logic and
 * its copy-back/out_detach); anything else is the reference's.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation } from '../harness.ts';
import { EFAULT, EINVAL } from '../../../impl/lib/errno.ts';
import { VFIO_DEVICE_ATTACH_PASID } from '../../../spec/uapi/constants.ts';
import { offsetofend } from '../../../spec/uapi/layout.ts';
import { iommufdDeviceAttach, iommufdDeviceDetach, iommufdDeviceReplace } from '../../../impl/iommufd/device.ts';
import { vfioDeviceIoctlDecode } from '../../../impl/iommufd/vfio_cdev.ts';
import { layoutOf, UcmdStruct } from '../../../impl/iommufd/ucmd.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('cdev-attach-pasid-falls-back-to-rid', profile, {
    vfioIoctl: (df, cmd, arg, original) => {
      if (df.profile !== '7.3' || !df.accessGranted) return original();
      const d = vfioDeviceIoctlDecode(df, cmd, arg);
      if (!d.ok || d.kind !== 'vfio-argsz' || d.command.name !== 'VFIO_DEVICE_ATTACH_IOMMUFD_PT') return original();
      const struct = d.command.struct ?? '';
      const attach = new UcmdStruct(layoutOf(struct, df.profile), d.bytes);
      const flags = attach.num('flags');
      if (flags & ~VFIO_DEVICE_ATTACH_PASID || !(flags & VFIO_DEVICE_ATTACH_PASID)) return original();
      // THE FAULT: no `if (!device->ops->pasid_attach_ioas) return -EOPNOTSUPP;`
      const minsz = offsetofend(df.profile, struct, 'pt_id');
      const xend = offsetofend(df.profile, struct, 'pasid');
      if (d.size < xend) return -EINVAL;
      if (!df.proc.copyFromUser(arg + BigInt(minsz), xend - minsz)) return -EFAULT;
      // ... and the dispatch falls to device->ops->attach_ioas: vfio_iommufd_physical_attach_ioas (the RID).
      const vdev = df.device;
      const idev = vdev.iommufdDevice;
      if (!idev) return -EINVAL;
      const ptId = { value: attach.num('pt_id') };
      const rc = vdev.iommufdAttached ? iommufdDeviceReplace(idev, ptId) : iommufdDeviceAttach(idev, ptId);
      if (rc) return rc;
      vdev.iommufdAttached = true;
      attach.set('pt_id', ptId.value);
      if (!df.proc.copyToUser(arg + BigInt(attach.offsetOf('pt_id')), attach.fieldBytes('pt_id'))) {
        // out_detach: device->ops->detach_ioas
        iommufdDeviceDetach(idev);
        vdev.iommufdAttached = false;
        return -EFAULT;
      }
      return 0;
    },
  });
}
