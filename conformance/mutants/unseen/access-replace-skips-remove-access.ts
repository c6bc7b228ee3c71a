/**
 * access-replace-skips-remove-access (drivers/iommu/iommufd/device.c
 * iommufd_access_change_ioas, 6.12 and 7.3).
 *
 * An access is listed in the access_list of the IOAS it is attached to: that
 * list is what iommufd_access_notify_unmap() walks when an area with pins is
 * unmapped, and what iopt_calculate_iova_alignment() reads (an access that
 * pins raises the IOAS's IOVA alignment to PAGE_SIZE). Moving an access to
 * another IOAS adds it to the new list and removes it from the old one:
 *
 *     if (new_ioas) {
 *             rc = iopt_add_access(&new_ioas->iopt, access);
 *             ...
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
 * The fault is a replace written apart from detach: it adds the access to
 * the new IOAS, tells it to unpin, moves the users reference — and leaves the
 * old IOAS's access_list entry in place (only a detach, new_ioas == NULL,
 * removes it):
 *
 *             if (!new_ioas)
 *                     iopt_remove_access(&cur_ioas->iopt, access,
 *                                        iopt_access_list_id);
 *
 * IOMMU_TEST_OP_ACCESS_REPLACE_IOAS succeeds, the access pins and reads
 * through its new IOAS and lets it go at destroy as it should. But the IOAS
 * it left still counts it, on two fronts:
 *   - that IOAS keeps a PAGE_SIZE IOVA alignment the access no longer
 *     imposes (IOVA_RANGES out_iova_alignment, sub-page IOAS_MAP/COPY refused
 *     with EINVAL), for as long as the IOAS lives — also after the access is
 *     destroyed, the list then pointing at a freed access;
 *   - every unmap there of an area another access pins notifies the moved
 *     access too, with IOVAs of the old IOAS: its unmap callback drops the
 *     pins it holds in its new IOAS at those IOVAs, so an unmap in one IOAS
 *     revokes pins in another (the access's items vanish,
 *     DESTROY_ACCESS_PAGES answers ENOENT, pages it still uses are unpinned).
 *
 * Applied as: IOMMU_TEST_OP_ACCESS_REPLACE_IOAS runs
 * iommufd_test_access_replace_ioas over an iommufd_access_replace whose
 * iommufd_access_change_ioas is the faulty one (_access_change.ts); attach
 * (CREATE_ACCESS) and destroy (the access fd's release) are the reference's.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation } from '../harness.ts';
import { accessReplaceIoasWith, changeIoasWith } from './_access_change.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('access-replace-skips-remove-access', profile, {
    // THE FAULT: iopt_remove_access(&cur_ioas->iopt, access, iopt_access_list_id) only when !new_ioas.
    handlers: { IOMMU_TEST_CMD: accessReplaceIoasWith(changeIoasWith({ replaceKeepsOldListEntry: true })) },
  });
}
