/**
 * RT43-C4 — vfio-ioas-set-falls-through-to-clear (drivers/iommu/iommufd/vfio_compat.c
 * iommufd_vfio_ioas, IOMMU_VFIO_IOAS_SET; the same code in 6.12 and 7.3).
 *
 * IOMMU_VFIO_IOAS SET points the VFIO type1 container commands of this
 * iommufd at an IOAS and returns:
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
 *     case IOMMU_VFIO_IOAS_CLEAR:
 *             xa_lock(&ucmd->ictx->objects);
 *             ucmd->ictx->vfio_ioas = NULL;
 *             xa_unlock(&ucmd->ictx->objects);
 *             return 0;
 *
 * THE FAULT: the `return 0;` closing the SET case is lost (e.g. when the
 * put_object line was reworked to a scoped cleanup), so SET falls through into
 * CLEAR: it looks the IOAS up (ENOENT as before), stores it, and then clears
 * ictx->vfio_ioas and answers 0.
 *
 * What a user sees: SET succeeds yet the container has no IOAS:
 * IOMMU_VFIO_IOAS GET answers ENODEV, VFIO_IOMMU_MAP_DMA / UNMAP_DMA /
 * GET_INFO / SET_IOMMU and CHECK_EXTENSION(VFIO_DMA_CC_IOMMU) answer ENODEV,
 * and a SET meant to move the container away from an old IOAS drops it
 * instead (a VMM that SETs a new IOAS and maps guest memory through the
 * container gets no mapping at all).
 *
 * Applied as: IOMMU_VFIO_IOAS SET (reserved clear) runs the reference's SET
 * and, when it answered 0, clears ctx->vfio_ioas.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { IOMMU_VFIO_IOAS_SET } from '../../../spec/uapi/constants.ts';
import { mutantImplementation } from '../harness.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('vfio-ioas-set-falls-through-to-clear', profile, {
    handlers: {
      IOMMU_VFIO_IOAS: (ucmd, original) => {
        const { cmd, ctx } = ucmd;
        if (cmd.num('__reserved') || cmd.num('op') !== IOMMU_VFIO_IOAS_SET) return original(ucmd);
        const rc = original(ucmd);
        if (rc) return rc;
        ctx.vfioIoas = null; // THE FAULT: case IOMMU_VFIO_IOAS_CLEAR reached by fall-through
        return 0;
      },
    },
  });
}
