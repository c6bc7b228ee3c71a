/**
 * R18-C2 — vfio-ioas-set-keeps-first (drivers/iommu/iommufd/vfio_compat.c
 * iommufd_vfio_ioas, IOMMU_VFIO_IOAS_SET; the same code in 6.12 and 7.3).
 *
 * IOMMU_VFIO_IOAS_SET chooses which IOAS the VFIO type1 container commands
 * on this iommufd (VFIO_IOMMU_MAP_DMA / UNMAP_DMA / GET_INFO,
 * VFIO_CHECK_EXTENSION(VFIO_DMA_CC_IOMMU), VFIO_SET_IOMMU) and
 * IOMMU_VFIO_IOAS_GET act on. Setting it again moves the container to the
 * new IOAS:
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
 * THE FAULT: the assignment got the guard iommufd_vfio_compat_ioas_create()
 * has ("another compat IOAS won the race: keep it"), meant to stop SET from
 * pulling the compat IOAS away from legacy VFIO groups already attached to it:
 *
 *             xa_lock(&ucmd->ictx->objects);
 *             if (!ucmd->ictx->vfio_ioas)
 *                     ucmd->ictx->vfio_ioas = ioas;
 *             xa_unlock(&ucmd->ictx->objects);
 *
 * The first SET works; every later SET (to another IOAS) still answers 0 and
 * changes nothing, until the compat IOAS is destroyed or CLEARed.
 *
 * Consequence (two IOASes, several commands): a VMM that points the type1
 * container at a new IOAS (a second guest address space, or the IOAS it moved
 * its devices to) keeps mapping into the old one. VFIO_IOMMU_MAP_DMA puts the
 * guest's memory into the first IOAS: devices attached to the IOAS the user
 * chose do not reach it (their DMA faults where it must work), while every
 * device still attached to the first IOAS — possibly assigned to something
 * else — can read and write it; VFIO_IOMMU_UNMAP_DMA takes mappings out of
 * the wrong IOAS (or answers that nothing is mapped), and IOMMU_VFIO_IOAS_GET
 * reports the old id.
 *
 * Applied as: IOMMU_VFIO_IOAS SET, when the context already has a live
 * compat IOAS, looks the new IOAS up (ENOENT as before) and answers 0
 * without changing ctx->vfio_ioas.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { IOMMU_VFIO_IOAS_SET } from '../../../spec/uapi/constants.ts';
import { iommufdGetIoas } from '../../../impl/iommufd/iommufd_private.ts';
import { mutantImplementation } from '../harness.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('vfio-ioas-set-keeps-first', profile, {
    handlers: {
      IOMMU_VFIO_IOAS: (ucmd, original) => {
        const { cmd, ctx } = ucmd;
        if (cmd.num('__reserved') || cmd.num('op') !== IOMMU_VFIO_IOAS_SET || !ctx.vfioIoas) return original(ucmd);
        const r = iommufdGetIoas(ctx, cmd.num('ioas_id'));
        if (r.errno) return r.errno;
        return 0; // if (!ictx->vfio_ioas) ictx->vfio_ioas = ioas; — it was set: kept
      },
    },
  });
}
