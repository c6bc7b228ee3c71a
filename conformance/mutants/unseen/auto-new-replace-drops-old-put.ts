/**
 * RT42-C1 — auto-new-replace-drops-old-put (drivers/iommu/iommufd/device.c
 * iommufd_device_auto_get_domain).
 *
 * When no automatic HWPT of the IOAS fits, a new one is allocated; in replace
 * mode (not immediate attach) the device is moved to it afterwards and the
 * HWPT it leaves is returned for the caller (iommufd_device_change_pt) to put:
 *
 *     if (!immediate_attach) {
 *             destroy_hwpt = (*do_attach)(idev, pasid, hwpt);
 *             if (IS_ERR(destroy_hwpt))
 *                     goto out_abort;
 *     } else {
 *             destroy_hwpt = NULL;
 *     }
 *     hwpt_paging->auto_domain = true;
 *     *pt_id = hwpt->obj.id;
 *     iommufd_object_finalize(idev->ictx, &hwpt->obj);
 *     mutex_unlock(&ioas->mutex);
 *     return destroy_hwpt;
 *
 * THE FAULT: the new-domain path ends in `return NULL;` (a leftover of the
 * older int-returning version, where the new-domain path never had anything
 * to hand back): the reference that the attachment held on the old HWPT is
 * never put. Only a replace (VFIO_DEVICE_ATTACH_IOMMUFD_PT on an attached
 * device) by IOAS id that has to make a new automatic HWPT takes this path.
 *
 * What a user sees: the HWPT the device left stays busy for ever —
 * IOMMU_DESTROY of a user HWPT answers EBUSY; an automatic HWPT left this way
 * is never destroyed (its id stays live, its domain keeps the IOAS's pages
 * mapped and its IOVA constraints stay on the IOAS).
 *
 * Applied as: around the VFIO cdev's ATTACH_IOMMUFD_PT on an attached device
 * naming an IOAS, an extra reference is taken on the old HWPT; it is given back
 * (the reference's own put) unless the device ended on a HWPT of that IOAS that
 * did not exist before the call.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { layoutOf, UcmdStruct } from '../../../impl/iommufd/ucmd.ts';
import { vfioDeviceIoctlDecode } from '../../../impl/iommufd/vfio_cdev.ts';
import { iommufdHwPagetablePut } from '../../../impl/iommufd/hw_pagetable.ts';
import type { IommufdIoas } from '../../../impl/iommufd/iommufd_private.ts';
import { refcount_inc } from '../../../impl/iommufd/object.ts';
import { mutantImplementation } from '../harness.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('auto-new-replace-drops-old-put', profile, {
    vfioIoctl: (df, cmd, arg, original) => {
      const vdev = df.device;
      const idev = vdev.iommufdDevice;
      if (!vdev.iommufdAttached || !idev || !df.iommufd) return original();
      const d = vfioDeviceIoctlDecode(df, cmd, arg);
      if (!d.ok || d.kind !== 'vfio-argsz' || d.command.name !== 'VFIO_DEVICE_ATTACH_IOMMUFD_PT') return original();
      const s = new UcmdStruct(layoutOf(d.command.struct ?? '', df.profile), d.bytes);
      if (s.num('flags')) return original();
      const ctx = df.iommufd.ctx;
      const pt = ctx.objects.load(s.num('pt_id'));
      const old = idev.igroup.hwpt;
      if (!pt || pt.type !== 'IOAS' || !old) return original();
      const before = new Set((pt as IommufdIoas).hwptList);
      refcount_inc(old);
      const rc = original();
      const now = idev.igroup.hwpt;
      const madeNew = rc === 0 && now !== null && now !== old && !before.has(now as never) && (pt as IommufdIoas).hwptList.includes(now as never);
      // THE FAULT: on the new-domain replace path destroy_hwpt is lost, the old HWPT is never put.
      if (!madeNew) iommufdHwPagetablePut(ctx, old);
      return rc;
    },
  });
}
