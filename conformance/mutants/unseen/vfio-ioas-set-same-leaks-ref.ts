/**
 * R27-C2 — vfio-ioas-set-same-leaks-ref (drivers/iommu/iommufd/vfio_compat.c
 * iommufd_vfio_ioas, IOMMU_VFIO_IOAS_SET; the same code in 6.12 and 7.3).
 *
 * IOMMU_VFIO_IOAS_SET points the VFIO type1 container commands of this
 * iommufd at an IOAS. ctx->vfio_ioas is a plain pointer, not a reference:
 * the IOAS is looked up (which takes a users reference for the duration of
 * the ioctl), stored, and the lookup reference is put back; destroying the
 * IOAS later clears ctx->vfio_ioas (iommufd_object_remove):
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
 * THE FAULT: a "nothing to do" shortcut for a SET that names the IOAS that is
 * already the compat IOAS (a VMM re-asserting its container on every device
 * hot-add does exactly that), placed after the lookup and returning before
 * the put:
 *
 *             xa_lock(&ucmd->ictx->objects);
 *             if (ucmd->ictx->vfio_ioas == ioas) {
 *                     xa_unlock(&ucmd->ictx->objects);
 *                     return 0;               <- the lookup reference stays
 *             }
 *             ucmd->ictx->vfio_ioas = ioas;
 *             ...
 *
 * The first SET of an IOAS is fine; every repeated SET of the same IOAS
 * answers 0, as in the kernel, and leaks one users reference (and, in the
 * kernel, one short-term/wait count) on it.
 *
 * Consequence (one IOAS, several commands): the IOAS can never be destroyed
 * again. IOMMU_DESTROY of it answers EBUSY where the kernel destroys it (and
 * clears the compat pointer) — even after IOMMU_VFIO_IOAS_CLEAR, after every
 * HWPT and access on it is gone and every device detached. At close of the
 * iommufd the release loop cannot bring it to one user either: it is left
 * behind (WARN) with its areas and their iopt_pages (the pins go with the
 * HWPTs and accesses, which are destroyed before it), leaked with the context.
 *
 * Applied as: IOMMU_VFIO_IOAS with op SET, when the IOAS it names is the
 * current compat IOAS, answers 0 and takes a users reference on it that no
 * one puts; every other command (and every other SET) is the reference's.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { IOMMU_VFIO_IOAS_SET } from '../../../spec/uapi/constants.ts';
import { iommufdGetIoas } from '../../../impl/iommufd/iommufd_private.ts';
import { refcount_inc } from '../../../impl/iommufd/object.ts';
import { mutantImplementation } from '../harness.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('vfio-ioas-set-same-leaks-ref', profile, {
    handlers: {
      IOMMU_VFIO_IOAS: (ucmd, original) => {
        const { cmd, ctx } = ucmd;
        if (cmd.num('__reserved') || cmd.num('op') !== IOMMU_VFIO_IOAS_SET) return original(ucmd);
        const id = cmd.num('ioas_id');
        // Any other SET is the reference's (its lookup reference is put back).
        if (!ctx.vfioIoas || ctx.vfioIoas.id !== id || ctx.objects.load(id) !== ctx.vfioIoas) return original(ucmd);
        // iommufd_get_ioas: the lookup reference
        const r = iommufdGetIoas(ctx, id);
        if (r.errno || !r.value) return r.errno;
        // THE FAULT: already the compat IOAS — return 0 before iommufd_put_object().
        refcount_inc(r.value);
        return 0;
      },
    },
  });
}
