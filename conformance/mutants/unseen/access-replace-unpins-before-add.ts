/**
 * access-replace-unpins-before-add (drivers/iommu/iommufd/device.c
 * iommufd_access_change_ioas, reached by iommufd_access_replace:
 * IOMMU_TEST_OP_ACCESS_REPLACE_IOAS, an mdev driver moving its access to
 * another IOAS).
 *
 * Moving an access asks its driver to give back every pin it holds in the
 * old IOAS (ops->unmap(0, ULONG_MAX)) — but only once the move can no longer
 * fail, i.e. after the access has joined the new IOAS:
 *
 *     access->ioas = NULL;
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
 *             if (!iommufd_access_is_internal(access) && access->ops->unmap) {
 *                     mutex_unlock(&access->ioas_lock);
 *                     access->ops->unmap(access->data, 0, ULONG_MAX);
 *                     mutex_lock(&access->ioas_lock);
 *             }
 *             iopt_remove_access(&cur_ioas->iopt, access, iopt_access_list_id);
 *             refcount_dec(&cur_ioas->obj.users);
 *     }
 *
 * THE FAULT hoists the driver callback to the top ("the driver must be done
 * with the old IOAS before we touch either list"):
 *
 *     if (cur_ioas && !iommufd_access_is_internal(access) && access->ops->unmap) {
 *             mutex_unlock(&access->ioas_lock);
 *             access->ops->unmap(access->data, 0, ULONG_MAX);
 *             mutex_lock(&access->ioas_lock);
 *     }
 *     access->ioas = NULL;
 *     if (new_ioas) { rc = iopt_add_access(...); if (rc) { ...; return rc; } ... }
 *     if (cur_ioas) { iopt_remove_access(...); refcount_dec(...); }
 *
 * A successful replace (and every detach) behaves as before. A replace that
 * iopt_add_access refuses — -EADDRINUSE (the access's PAGE_SIZE alignment
 * against a byte-granular area of the target IOAS), -ENOMEM (its list slot),
 * -EBUSY — answers that errno and leaves the access attached to its old
 * IOAS as the kernel does, but the driver has already been told that every
 * IOVA of the old IOAS is gone: it has dropped all its pins and forgotten
 * its mappings.
 *
 * Consequence, on the access's own (old) IOAS after a failed replace: every
 * item the access held there is gone — IOMMU_TEST_OP_DESTROY_ACCESS_PAGES of
 * it answers ENOENT instead of 0 — and its pages are unpinned (pin_count,
 * IOMMU_TEST_OP_MD_CHECK_REFS, pinned_vm) while the IOAS still maps them
 * and nothing told the user; a real mdev driver (vfio-ap, vfio-ccw, GVT-g)
 * stops translating or shadowing memory the guest still has mapped. It
 * needs two IOASes, an access holding pins in one, and a refused move to
 * the other; nothing differs at the refused command itself.
 *
 * Applied as: IOMMU_TEST_OP_ACCESS_REPLACE_IOAS is a copy of the selftest's
 * iommufd_test_access_replace_ioas → iommufd_access_replace →
 * iommufd_access_change_ioas(_id) with the callback moved up (the
 * attach at CREATE_ACCESS and the detach at release have no old IOAS to
 * lose, or nothing to fail, and stay the reference's).
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation } from '../harness.ts';
import { EBUSY, ENOENT } from '../../../impl/lib/errno.ts';
import { IOMMU_TEST_OP_ACCESS_REPLACE_IOAS } from '../../../spec/uapi/constants.ts';
import { iommufdGetIoas, ULONG_MAX, type IommufdIoas, type Ucmd } from '../../../impl/iommufd/iommufd_private.ts';
import { ioptAddAccess, ioptRemoveAccess } from '../../../impl/iommufd/io_pagetable.ts';
import { refcount_dec, refcount_inc } from '../../../impl/iommufd/object.ts';
import type { IommufdAccess } from '../../../impl/iommufd/access.ts';
import { accessGet } from './_access_pages.ts';

/** iommufd_access_change_ioas with THE FAULT: the driver's unmap callback runs before iopt_add_access can fail. */
function changeIoas(access: IommufdAccess, newIoas: IommufdIoas | null): number {
  const listId = access.ioptAccessListId;
  const cur = access.ioas;
  if (cur !== access.ioasUnpin) return -EBUSY;
  if (cur === newIoas) return 0;
  // THE FAULT: hoisted from the `if (cur_ioas)` block below.
  if (cur) access.ops.unmap(0n, ULONG_MAX);
  access.ioas = null;
  if (newIoas) {
    const rc = ioptAddAccess(newIoas.iopt, access);
    if (rc) {
      access.ioas = cur;
      return rc;
    }
    refcount_inc(newIoas);
  }
  if (cur) {
    ioptRemoveAccess(cur.iopt, listId);
    refcount_dec(cur);
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
  return mutantImplementation('access-replace-unpins-before-add', profile, {
    handlers: {
      IOMMU_TEST_CMD: (ucmd, original) => (ucmd.cmd.num('op') === IOMMU_TEST_OP_ACCESS_REPLACE_IOAS ? testAccessReplaceIoas(ucmd) : original(ucmd)),
    },
  });
}
