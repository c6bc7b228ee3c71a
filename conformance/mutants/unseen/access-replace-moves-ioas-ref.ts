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
 * guarded reference updates; refcounts are updated as refcount_t does
 * (saturating, with the kernel's WARN recorded) where the fault makes them
 * underflow. Attach (IOMMU_TEST_OP_CREATE_ACCESS) is the reference's: it is
 * the same with cur_ioas NULL.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';
import { EBUSY, ENOENT } from '../../../impl/lib/errno.ts';
import { IOMMU_TEST_OP_ACCESS_REPLACE_IOAS } from '../../../spec/uapi/constants.ts';
import { iommufdGetIoas, ULONG_MAX, type IommufdIoas, type Ucmd } from '../../../impl/iommufd/iommufd_private.ts';
import { ioptAddAccess, ioptRemoveAccess } from '../../../impl/iommufd/io_pagetable.ts';
import { refcount_inc, type IommufdObject } from '../../../impl/iommufd/object.ts';
import type { IommufdAccess } from '../../../impl/iommufd/access.ts';
import { accessGet } from './_access_pages.ts';

/** REFCOUNT_SATURATED (INT_MIN / 2) as refcount_t leaves an underflowed count: never 1 again. */
const REFCOUNT_SATURATED = 0xc0000000;

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

/** iommufd_access_change_ioas with THE FAULT: a replace neither takes the new IOAS's reference nor drops the old one's. */
function changeIoas(access: IommufdAccess, newIoas: IommufdIoas | null): number {
  const listId = access.ioptAccessListId;
  const cur = access.ioas;
  if (cur !== access.ioasUnpin) return -EBUSY;
  if (cur === newIoas) return 0;
  access.ioas = null;
  if (newIoas) {
    const rc = ioptAddAccess(newIoas.iopt, access);
    if (rc) {
      access.ioas = cur;
      return rc;
    }
    // THE FAULT: `if (!cur_ioas)` — a replace "moves" the reference.
    if (!cur) refcount_inc(newIoas);
  }
  if (cur) {
    access.ops.unmap(0n, ULONG_MAX);
    ioptRemoveAccess(cur.iopt, listId);
    // THE FAULT: `if (!new_ioas)` — likewise.
    if (!newIoas) refcountDecKernel(access, cur);
  }
  access.ioas = newIoas;
  access.ioasUnpin = newIoas;
  return 0;
}

/** iommufd_test_access_replace_ioas → iommufd_access_replace → iommufd_access_change_ioas_id. */
function testAccessReplaceIoas(ucmd: Ucmd): number {
  const g = accessGet(ucmd, ucmd.cmd.num('id'));
  if (g.errno) return g.errno;
  try {
    const access = g.staccess!.access!;
    if (!access.ioas) return -ENOENT;
    const r = iommufdGetIoas(access.ctx, ucmd.cmd.num('access_replace_ioas.ioas_id'));
    if (r.errno) return r.errno;
    return changeIoas(access, r.value!);
  } finally {
    g.file!.put();
  }
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('access-replace-moves-ioas-ref', profile, {
    handlers: {
      IOMMU_TEST_CMD: (ucmd, original) => (ucmd.cmd.num('op') === IOMMU_TEST_OP_ACCESS_REPLACE_IOAS ? testAccessReplaceIoas(ucmd) : original(ucmd)),
    },
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
