/**
 * vfio-ioas-clear-keeps-ioas (drivers/iommu/iommufd/vfio_compat.c iommufd_vfio_ioas).
 *
 * IOMMU_VFIO_IOAS op CLEAR forgets the IOAS the VFIO type1 compat commands act on:
 *     case IOMMU_VFIO_IOAS_CLEAR:
 *             xa_lock(&ucmd->ictx->objects);
 *             ucmd->ictx->vfio_ioas = NULL;
 *             xa_unlock(&ucmd->ictx->objects);
 *             return 0;
 * The fault loses the assignment (the case keeps only the locking and the
 * return 0): CLEAR answers success and changes nothing.
 *
 * What a user sees: after CLEAR, IOMMU_VFIO_IOAS GET still returns the old
 * IOAS id instead of ENODEV, and VFIO_IOMMU_MAP_DMA / UNMAP_DMA / GET_INFO keep
 * mapping into and unmapping from that IOAS (a user who handed it to another
 * consumer, or who expects the container to be detached, has the compat path
 * still writing device-visible translations into it).
 *
 * Applied as: CLEAR (with a zero __reserved) answers 0 without touching
 * ctx->vfio_ioas; every other op is the reference's. Both profiles.
 */
import { IOMMU_VFIO_IOAS_CLEAR } from '../../../spec/uapi/constants.ts';
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation } from '../harness.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('vfio-ioas-clear-keeps-ioas', profile, {
    handlers: {
      IOMMU_VFIO_IOAS: (ucmd, original) => {
        if (ucmd.cmd.num('__reserved') || ucmd.cmd.num('op') !== IOMMU_VFIO_IOAS_CLEAR) return original(ucmd);
        // THE FAULT: ictx->vfio_ioas = NULL is missing.
        return 0;
      },
    },
  });
}
