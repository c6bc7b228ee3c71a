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
 * iommufd_access_change_ioas(_id) with the callback moved up (_access_change.ts; the
 * attach at CREATE_ACCESS and the detach at release have no old IOAS to
 * lose, or nothing to fail, and stay the reference's).
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation } from '../harness.ts';
import { accessReplaceIoasWith, changeIoasWith } from './_access_change.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('access-replace-unpins-before-add', profile, {
    // THE FAULT: the driver's unmap callback, hoisted from the `if (cur_ioas)` block, runs before iopt_add_access can fail.
    handlers: { IOMMU_TEST_CMD: accessReplaceIoasWith(changeIoasWith({ unmapsBeforeAdd: true })) },
  });
}
