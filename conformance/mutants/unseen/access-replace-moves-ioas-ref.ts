/**
 * access-replace-moves-ioas-ref (drivers/iommu/iommufd/device.c
 * iommufd_access_change_ioas, reached by iommufd_access_replace —
 * IOMMU_TEST_OP_ACCESS_REPLACE_IOAS, an emulated VFIO device's
 * VFIO_DEVICE_ATTACH_IOMMUFD_PT onto another IOAS — and by
 * iommufd_access_detach / iommufd_access_destroy_object; 6.12 and 7.3).
 *
 * An attached access holds one `users` reference on its IOAS, so the IOAS
 * cannot be destroyed under it (IOMMU_DESTROY → EBUSY). Changing the IOAS
 * takes the reference on the new one and gives back the one on the old one,
 * each on its own object:
 *
 *     if (new_ioas) {
 *             rc = iopt_add_access(&new_ioas->iopt, access);
 *             if (rc) {
 *                     access->ioas = cur_ioas;
 *                     return rc;
 *             }
 *             refcount_inc(&new_ioas->obj.users);
 *     }
 *
 *     if (cur_ioas) {
 *             if (access->ops->unmap) {
 *                     mutex_unlock(&access->ioas_lock);
 *                     access->ops->unmap(access->data, 0, ULONG_MAX);
 *                     mutex_lock(&access->ioas_lock);
 *             }
 *             iopt_remove_access(&cur_ioas->iopt, access, iopt_access_list_id);
 *             refcount_dec(&cur_ioas->obj.users);
 *     }
 *
 * THE FAULT treats the access's IOAS reference as one count that "moves"
 * with the access: a replace (both IOASes set) skips the pair, as if the
 * increment on one and the decrement on the other cancelled out; only a
 * plain attach takes and a plain detach drops it:
 *
 *             if (!cur_ioas)          // a replace keeps the access's reference
 *                     refcount_inc(&new_ioas->obj.users);
 *     ...
 *             if (!new_ioas)          // a replace keeps the access's reference
 *                     refcount_dec(&cur_ioas->obj.users);
 *
 * They do not cancel: they are on two different objects. After a replace
 * the IOAS the access left keeps a reference nobody owns, and the IOAS it
 * joined has none from it.
 *
 * Consequence, over several commands and two IOASes:
 *   - the IOAS the access moved to can be destroyed while the access is
 *     attached to it: IOMMU_DESTROY answers 0 where the kernel answers
 *     EBUSY, unmaps everything (the access is told to unpin), and frees the
 *     IOAS while access->ioas still points at it — a use-after-free in every
 *     later pin, rw, replace or detach of the access (here: its pins and
 *     reads find no areas, ENOENT; in the kernel, freed memory that the
 *     next IOAS_ALLOC may reuse). The id is freed and handed to the next
 *     object;
 *   - the IOAS it left can never be destroyed (IOMMU_DESTROY: EBUSY) and is
 *     left behind when the iommufd is closed (iommufd_fops_release's
 *     WARN_ON(!destroyed));
 *   - the detach that finally drops "the" reference drops it from the IOAS
 *     the access is on, which holds none: refcount_t hits 0 and saturates
 *     (WARN "decrement hit 0; leaking memory"), so that IOAS becomes
 *     undestroyable too.
 * A first attach and a first detach are right; only a replace between them
 * shows it.
 *
 * Applied as: IOMMU_TEST_OP_ACCESS_REPLACE_IOAS and each access object's
 * destroy go through a copy of iommufd_access_change_ioas with the two
 * guarded reference updates (_access_change.ts); refcounts are updated as refcount_t does
 * (saturating, with the kernel's WARN recorded) where the fault makes them
 * underflow. Attach (IOMMU_TEST_OP_CREATE_ACCESS) is the reference's: it is
 * the same with cur_ioas NULL.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';
import { REFCOUNT_SATURATED } from './_kernel_refcount.ts';
import type { IommufdObject } from '../../../impl/iommufd/object.ts';
import type { IommufdAccess } from '../../../impl/iommufd/access.ts';
import { accessReplaceIoasWith, changeIoasWith } from './_access_change.ts';

/** refcount_dec as the kernel's refcount_t does it: hitting 0 (or going below) saturates and WARNs. */
function refcountDecKernel(access: IommufdAccess, obj: IommufdObject): void {
  if (obj.users === REFCOUNT_SATURATED) return;
  if (obj.users <= 1) {
    access.ctx.warnings.push(`refcount_t: ${obj.users === 1 ? 'decrement hit 0; leaking memory' : 'underflow; use-after-free'} (${obj.type} ${obj.id})`);
    obj.users = REFCOUNT_SATURATED;
    return;
  }
  obj.users--;
}

/** iommufd_access_change_ioas with THE FAULT: a replace neither takes the new IOAS's reference nor drops the old one's (`if (!cur_ioas)`, `if (!new_ioas)`). */
const changeIoas = changeIoasWith({ replaceMovesReference: true, refcountDec: refcountDecKernel });

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('access-replace-moves-ioas-ref', profile, {
    handlers: { IOMMU_TEST_CMD: accessReplaceIoasWith(changeIoas) },
    // iommufd_access_destroy_object: detach through the faulty change, then iommufd_ctx_put.
    object: (obj) => {
      if (obj.type !== 'ACCESS') return;
      const access = obj as IommufdAccess;
      patchOwn(access, 'destroy', () => () => {
        if (access.ioas) changeIoas(access, null);
        access.ctx.file?.put();
      });
    },
  });
}
