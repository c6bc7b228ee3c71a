/**
 * access-change-publishes-new-before-unmap (drivers/iommu/iommufd/device.c
 * iommufd_access_change_ioas; 6.12 and 7.3).
 *
 * Moving an access to another IOAS (iommufd_access_replace, and the detach of
 * iommufd_access_destroy_object) joins the new IOAS, then asks the driver to
 * give back every pin (ops->unmap(0, ULONG_MAX), called with ioas_lock
 * dropped), and only then publishes the new IOAS. Until then access->ioas is
 * NULL (no new pins) and access->ioas_unpin still names the old IOAS, so the
 * driver's iommufd_access_unpin_pages() calls find the areas it pinned:
 *
 *     access->ioas = NULL;
 *     if (new_ioas) {
 *             rc = iopt_add_access(&new_ioas->iopt, access);
 *             ...
 *             refcount_inc(&new_ioas->obj.users);
 *     }
 *     if (cur_ioas) {
 *             if (access->ops->unmap) {
 *                     mutex_unlock(&access->ioas_lock);
 *                     access->ops->unmap(access->data, 0, ULONG_MAX);
 *                     mutex_lock(&access->ioas_lock);
 *             }
 *             iopt_remove_access(&cur_ioas->iopt, access, iopt_access_list_id);
 *             refcount_dec(&cur_ioas->obj.users);
 *     }
 *     access->ioas = new_ioas;
 *     access->ioas_unpin = new_ioas;
 *
 * The fault publishes the new IOAS before dropping the lock for the callback
 * ("leave the access consistent before unlocking"), i.e. the two assignments
 * move up, right after the new IOAS is joined:
 *
 *     access->ioas = new_ioas;
 *     access->ioas_unpin = new_ioas;
 *     if (cur_ioas) {
 *             ... access->ops->unmap(access->data, 0, ULONG_MAX); ...
 *
 * The replace answers 0 and the access works in the new IOAS afterwards, but
 * the driver's unpins during the callback look up the *new* IOAS:
 *   - where it maps nothing at an item's IOVA the unpin WARNs and drops
 *     nothing: the old IOAS keeps the pins (and locked_vm charge) of an access
 *     no longer on its access_list, its IOMMU_IOAS_UNMAP of those areas spins
 *     on the notifier to EDEADLOCK, and its destroy leaks them past close;
 *   - where the new IOAS maps the same iopt_pages at that IOVA
 *     (IOMMU_IOAS_COPY) and a second access pinned exactly that range there,
 *     the second access's pin is dropped under it (MD_CHECK_REFS, locked_vm),
 *     and its own later unpin WARNs.
 * (A detach through iommufd_access_destroy_object is unaffected in practice:
 * the selftest's release has unpinned every item before.)
 *
 * Applied as: IOMMU_TEST_OP_ACCESS_REPLACE_IOAS and each ACCESS object's
 * destroy go through this iommufd_access_change_ioas; the selftest access's
 * unpins are the kernel's iommufd_access_unpin_pages / iopt_area_remove_access,
 * which WARN and skip a range with no matching iopt_pages_access (the
 * reference asserts).
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { EBUSY } from '../../../impl/lib/errno.ts';
import { IOMMU_TEST_OP_ACCESS_REPLACE_IOAS } from '../../../spec/uapi/constants.ts';
import { ULONG_MAX } from '../../../impl/iommufd/iommufd_private.ts';
import { ioptAddAccess, ioptRemoveAccess } from '../../../impl/iommufd/io_pagetable.ts';
import { refcount_dec, refcount_inc } from '../../../impl/iommufd/object.ts';
import type { IommufdAccess } from '../../../impl/iommufd/access.ts';
import { mutantImplementation } from '../harness.ts';
import { accessUnpinHooks, accessUnpinPagesWith, areaRemoveAccessWarn } from './_access_pages.ts';
import { accessReplaceIoasWith, patchAccessDestroy, type ChangeIoas } from './_access_change.ts';

/** iommufd_access_change_ioas with the new IOAS published before the driver's unmap callback. */
const changeIoas: ChangeIoas = (access, newIoas) => {
  const ioptAccessListId = access.ioptAccessListId;
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
    refcount_inc(newIoas);
  }
  // THE FAULT: published before the callback (the kernel: after iopt_remove_access / refcount_dec).
  access.ioas = newIoas;
  access.ioasUnpin = newIoas;
  if (cur) {
    access.ops.unmap(0n, ULONG_MAX);
    ioptRemoveAccess(cur.iopt, ioptAccessListId);
    refcount_dec(cur);
  }
  return 0;
};

export function createAdapter(profile: Profile): Implementation {
  const unpin = accessUnpinHooks({ unpinPages: accessUnpinPagesWith(areaRemoveAccessWarn) });
  const replace = accessReplaceIoasWith(changeIoas);
  return mutantImplementation('access-change-publishes-new-before-unmap', profile, {
    handlers: {
      IOMMU_TEST_CMD: (ucmd, original) => {
        if (ucmd.cmd.num('op') === IOMMU_TEST_OP_ACCESS_REPLACE_IOAS) return replace(ucmd, original);
        return unpin.handlers!.IOMMU_TEST_CMD!(ucmd, original);
      },
    },
    process: unpin.process,
    object: (obj, ctx, env) => {
      unpin.object?.(obj, ctx, env);
      if (obj.type !== 'ACCESS') return;
      const access = obj as IommufdAccess;
      patchAccessDestroy(access, changeIoas);
    },
  });
}
