/**
 * destroy-any-ioas-clears-compat-ioas (drivers/iommu/iommufd/main.c,
 * iommufd_object_remove, as IOMMU_DESTROY calls it).
 *
 * After the object is unpublished, the kernel forgets the VFIO compat IOAS
 * only when it is the object being destroyed:
 *
 *     if (ictx->vfio_ioas == container_of(obj, struct iommufd_ioas, obj))
 *             ictx->vfio_ioas = NULL;
 *
 * THE FAULT (one condition): the test is on the object's type, as if any
 * IOAS could be the compat one:
 *
 *     if (obj->type == IOMMUFD_OBJ_IOAS)
 *             ictx->vfio_ioas = NULL;
 *
 * What a user sees: after IOMMU_VFIO_IOAS SET (or the VFIO type1 container's
 * implicit compat IOAS), destroying any other, unrelated IOAS silently unsets
 * the compat IOAS: IOMMU_VFIO_IOAS GET answers ENODEV instead of its id, and
 * the VFIO compat ioctls (MAP_DMA, GET_INFO, device attach through the
 * container) no longer find the IOAS they were using.
 *
 * Applied as: a successful IOMMU_DESTROY of an IOAS clears ctx->vfio_ioas.
 * Both profiles.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation } from '../harness.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('destroy-any-ioas-clears-compat-ioas', profile, {
    handlers: {
      IOMMU_DESTROY: (ucmd, original) => {
        const obj = ucmd.ctx.objects.load(ucmd.cmd.num('id'));
        const rc = original(ucmd);
        if (rc === 0 && obj?.type === 'IOAS') ucmd.ctx.vfioIoas = null; // THE FAULT
        return rc;
      },
    },
  });
}
