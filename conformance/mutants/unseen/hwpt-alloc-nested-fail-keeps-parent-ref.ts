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
 * Applied as: a copy of the reference's iommufd_hwpt_alloc whose nested branch
 * leaves the lookup's users reference on the parent when it fails.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { EINVAL, EOPNOTSUPP } from '../../../impl/lib/errno.ts';
import { IOMMU_HWPT_DATA_NONE, IOMMU_HWPT_FAULT_ID_VALID } from '../../../spec/uapi/constants.ts';
import { Unwind } from '../../../impl/lib/unwind.ts';
import { iommufdGetObject, iommufdObjectAbortAndDestroy, iommufdObjectFinalize, refcount_inc } from '../../../impl/iommufd/object.ts';
import { iommufdGetDevice, iommufdUcmdRespond, type IommufdHwpt, type IommufdHwptPaging, type IommufdIoas, type Ucmd } from '../../../impl/iommufd/iommufd_private.ts';
import { iommufdHwptNestedAllocChecks, iommufdHwptPagingAlloc, userDataOf } from '../../../impl/iommufd/hw_pagetable.ts';
import { mutantImplementation } from '../harness.ts';

/** iommufd_hwpt_alloc with the nested branch's failure going to out_put_idev. */
function hwptAlloc(ucmd: Ucmd): number {
  const { cmd, ctx: ictx } = ucmd;
  if (cmd.num('__reserved')) return -EOPNOTSUPP;
  const dataType = cmd.num('data_type');
  const dataLen = cmd.num('data_len');
  if ((dataType === IOMMU_HWPT_DATA_NONE && dataLen) || (dataType !== IOMMU_HWPT_DATA_NONE && !dataLen)) return -EINVAL;
  const flags = cmd.num('flags');

  const idevR = iommufdGetDevice(ictx, cmd.num('dev_id'));
  if (idevR.errno || !idevR.value) return idevR.errno;
  const idev = idevR.value;

  const ptR = iommufdGetObject(ictx, cmd.num('pt_id'), 'ANY');
  if (ptR.errno || !ptR.value) return -EINVAL;
  const pt = ptR.value;

  const userData = dataLen ? userDataOf(ictx, dataType, dataLen, cmd.big('data_uptr')) : undefined;
  let hwpt: IommufdHwpt;
  if (pt.type === 'IOAS') {
    const r = iommufdHwptPagingAlloc(ictx, pt as IommufdIoas, idev, flags, false, userData);
    if (r.errno || !r.value) return r.errno;
    hwpt = r.value;
  } else if (pt.type === 'HWPT_PAGING') {
    const rc = iommufdHwptNestedAllocChecks(pt as IommufdHwptPaging, idev, flags, dataLen);
    // THE FAULT: `goto out_put_idev` — iommufd_put_object(pt_obj) skipped, the lookup's reference stays.
    if (rc) refcount_inc(pt);
    return rc;
  } else {
    return -EINVAL;
  }

  const unwind = new Unwind();
  unwind.onError('out_hwpt', () => iommufdObjectAbortAndDestroy(ictx, hwpt));
  if (flags & IOMMU_HWPT_FAULT_ID_VALID) {
    const f = iommufdGetObject(ictx, cmd.num('fault_id'), 'FAULT');
    if (f.errno || !f.value) return unwind.exit(f.errno);
    hwpt.fault = f.value;
    refcount_inc(f.value);
  }

  cmd.set('out_hwpt_id', hwpt.id);
  const rc = iommufdUcmdRespond(ucmd);
  if (rc) return unwind.exit(rc);
  iommufdObjectFinalize(ictx, hwpt);
  return unwind.exit(0);
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('hwpt-alloc-nested-fail-keeps-parent-ref', profile, {
    handlers: { IOMMU_HWPT_ALLOC: (ucmd) => hwptAlloc(ucmd) },
  });
}
