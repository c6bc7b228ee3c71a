/**
 * destroy-busy-clears-compat-ioas (drivers/iommu/iommufd/main.c
 * iommufd_object_remove, behind IOMMU_DESTROY).
 *
 * The compat IOAS (ictx->vfio_ioas, the IOAS that the VFIO type1 container
 * ioctls on an iommufd act on, set by IOMMU_VFIO_IOAS(SET) or created for a
 * legacy container) is held by no reference: iommufd_object_remove forgets
 * it exactly when the object really goes away, after the users check:
 *
 *     if (!refcount_dec_if_one(&obj->users)) {
 *             ret = -EBUSY;
 *             goto err_xa;
 *     }
 *
 *     xas_store(&xas, (flags & REMOVE_OBJ_TOMBSTONE) ? XA_ZERO_ENTRY : NULL);
 *     if (ictx->vfio_ioas == container_of(obj, struct iommufd_ioas, obj))
 *             ictx->vfio_ioas = NULL;
 *
 * The fault moves the compat reset up, next to the lookup ("the object is
 * about to go away, unhook it first"), i.e. before the step that can still
 * refuse:
 *
 *     } else if (xa_is_zero(obj) || !obj) {
 *             ret = -ENOENT;
 *             goto err_xa;
 *     }
 *     if (ictx->vfio_ioas == container_of(obj, struct iommufd_ioas, obj))
 *             ictx->vfio_ioas = NULL;
 *     if (!refcount_dec_if_one(&obj->users)) {
 *             ret = -EBUSY;
 *             goto err_xa;
 *     }
 *
 * What it breaks: IOMMU_DESTROY of the compat IOAS while something still uses
 * it (a HWPT / an attached device's auto domain, an access) fails with EBUSY,
 * as it must, and leaves the IOAS, its mappings and its attached devices in
 * place — but the context no longer has a compat IOAS. Nothing in the failed
 * command shows it. From the next command on, every type1 container ioctl on
 * that fd answers ENODEV (VFIO_IOMMU_MAP_DMA, VFIO_IOMMU_UNMAP_DMA,
 * VFIO_IOMMU_GET_INFO, VFIO_SET_IOMMU, VFIO_CHECK_EXTENSION(VFIO_DMA_CC_IOMMU))
 * and IOMMU_VFIO_IOAS(GET) reports ENODEV for an IOAS that is alive and still
 * the one the container's devices DMA through: a VMM driving the container can
 * no longer unmap (revoke) what the devices reach through the type1 API, nor
 * map new memory, after a refused destroy that must have changed nothing.
 *
 * Applied as: IOMMU_DESTROY of the context's compat IOAS clears
 * ctx->vfio_ioas before the reference's own iommufd_object_remove runs (which
 * then answers EBUSY or destroys it, as before).
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation } from '../harness.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('destroy-busy-clears-compat-ioas', profile, {
    handlers: {
      IOMMU_DESTROY: (ucmd, original) => {
        const { ctx } = ucmd;
        const obj = ctx.objects.load(ucmd.cmd.num('id'));
        // THE FAULT: the compat IOAS is forgotten before refcount_dec_if_one() may still refuse.
        if (obj && ctx.vfioIoas === obj) ctx.vfioIoas = null;
        return original(ucmd);
      },
    },
  });
}
