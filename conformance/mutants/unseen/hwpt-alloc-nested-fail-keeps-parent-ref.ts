/**
 * hwpt-alloc-nested-fail-keeps-parent-ref (drivers/iommu/iommufd/hw_pagetable.c,
 * iommufd_hwpt_alloc).
 *
 * IOMMU_HWPT_ALLOC looks pt_id up with iommufd_get_object(), which takes a
 * users (and shortterm_users) reference on it, and every way out goes back
 * through the ladder that puts it (6.12 and 7.3 alike):
 *
 *     } else if (pt_obj->type == IOMMUFD_OBJ_HWPT_PAGING) {
 *             struct iommufd_hwpt_nested *hwpt_nested;
 *
 *             hwpt_nested = iommufd_hwpt_nested_alloc(
 *                     ucmd->ictx,
 *                     container_of(pt_obj, struct iommufd_hwpt_paging,
 *                                  common.obj),
 *                     idev, cmd->flags, &user_data);
 *             if (IS_ERR(hwpt_nested)) {
 *                     rc = PTR_ERR(hwpt_nested);
 *                     goto out_unlock;
 *             }
 *     ...
 * out_unlock:
 *     if (ioas)
 *             mutex_unlock(&ioas->mutex);
 * out_put_pt:
 *     iommufd_put_object(ucmd->ictx, pt_obj);
 * out_put_idev:
 *     iommufd_put_object(ucmd->ictx, &idev->obj);
 *
 * The fault sends the nested branch's failure to `out_put_idev` (there is no
 * ioas to unlock in that branch, and the label right under the one meant was
 * taken): the parent's lookup reference is never put back. Only the
 * nested-allocation branch is wrong — the paging branch (pt_id an IOAS) and
 * the "neither" branch (out_put_pt) are unchanged.
 *
 * So every refused nested allocation — flags other than FAULT_ID_VALID (7.3:
 * and PASID), no driver data, a parent that is automatic, not NEST_PARENT or
 * of another driver, or the driver refusing the data — leaves the parent
 * HWPT_PAGING one users reference higher. Later: IOMMU_DESTROY of the parent
 * answers EBUSY forever; an automatic parent no longer goes away with its
 * last device; and at close iommufd_fops_release cannot destroy it (WARN), so
 * its domain stays linked to its IOAS, which stays too, with every page mapped
 * there still pinned and charged after the process closed everything.
 *
 * Observable: IOMMU_HWPT_ALLOC with pt_id = a HWPT_PAGING (any answer but
 * success), then IOMMU_DESTROY of that HWPT: EBUSY instead of success (or, for
 * an automatic HWPT, it stays after its device detaches); pins left behind.
 *
 * Applied as: _hwpt_alloc.ts's iommufd_hwpt_alloc whose nested branch
 * leaves the lookup's users reference on the parent when it fails.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { refcount_inc } from '../../../impl/iommufd/object.ts';
import { hwptAllocWith } from './_hwpt_alloc.ts';
import { mutantImplementation } from '../harness.ts';

// THE FAULT: a failed nested branch does `goto out_put_idev`: iommufd_put_object(pt_obj) is
// skipped, and the lookup's users reference on the parent stays.
const hwptAlloc = hwptAllocWith({
  nestedFailed: (parent, rc) => {
    refcount_inc(parent);
    return rc;
  },
});

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('hwpt-alloc-nested-fail-keeps-parent-ref', profile, {
    handlers: { IOMMU_HWPT_ALLOC: (ucmd) => hwptAlloc(ucmd) },
  });
}
