/**
 * vfio-ioas-set-any-object-type (drivers/iommu/iommufd/vfio_compat.c,
 * iommufd_vfio_ioas, op IOMMU_VFIO_IOAS_SET).
 *
 * IOMMU_VFIO_IOAS_SET makes an IOAS the context's compat IOAS (the one the
 * VFIO type1 container ioctls act on). The id is looked up as an IOAS: any
 * other object is ENOENT and the compat IOAS is left as it was (6.12 and 7.3
 * alike):
 *
 *     case IOMMU_VFIO_IOAS_SET:
 *             ioas = iommufd_get_ioas(ucmd->ictx, cmd->ioas_id);
 *             if (IS_ERR(ioas))
 *                     return PTR_ERR(ioas);
 *             xa_lock(&ucmd->ictx->objects);
 *             ucmd->ictx->vfio_ioas = ioas;
 *             xa_unlock(&ucmd->ictx->objects);
 *             iommufd_put_object(ucmd->ictx, &ioas->obj);
 *             return 0;
 *
 * The fault looks the id up with iommufd_get_object(ictx, id,
 * IOMMUFD_OBJ_ANY) (as iommufd_device_change_pt does for a pt_id) and
 * container_of()s it: the object's type is never tested. SET with the id of
 * a HWPT, a device, an access or a selftest object succeeds and replaces the
 * compat IOAS with it. What the VFIO type1 ioctls then do with a non-IOAS is
 * type confusion in the kernel; the reference's get_compat_ioas sees no IOAS
 * there, so they answer ENODEV, and IOMMU_VFIO_IOAS_GET answers ENODEV where
 * the previous compat IOAS's id came back.
 *
 * Observable: IOMMU_VFIO_IOAS {op SET, ioas_id = a HWPT/device id} answers 0
 * instead of ENOENT, and the container loses its IOAS (GET: ENODEV,
 * VFIO_IOMMU_MAP_DMA: ENODEV).
 *
 * Applied as: IOMMU_VFIO_IOAS SET (with __reserved 0) takes any object; every
 * other op is the reference's.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { IOMMU_VFIO_IOAS_SET } from '../../../spec/uapi/constants.ts';
import { iommufdGetObject } from '../../../impl/iommufd/object.ts';
import { mutantImplementation } from '../harness.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('vfio-ioas-set-any-object-type', profile, {
    handlers: {
      IOMMU_VFIO_IOAS: (ucmd, original) => {
        const { cmd, ctx } = ucmd;
        if (cmd.num('__reserved') || cmd.num('op') !== IOMMU_VFIO_IOAS_SET) return original(ucmd);
        // THE FAULT: iommufd_get_object(..., IOMMUFD_OBJ_ANY) instead of iommufd_get_ioas().
        const r = iommufdGetObject(ctx, cmd.num('ioas_id'), 'ANY');
        if (r.errno || !r.value) return r.errno;
        ctx.vfioIoas = r.value;
        return 0;
      },
    },
  });
}
