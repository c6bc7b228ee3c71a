/**
 * hwpt-alloc-pt-lookup-errno (drivers/iommu/iommufd/hw_pagetable.c
 * iommufd_hwpt_alloc).
 *
 * IOMMU_HWPT_ALLOC maps a pt_id that names no object to EINVAL, not to the
 * lookup's ENOENT:
 *
 *     pt_obj = iommufd_get_object(ucmd->ictx, cmd->pt_id, IOMMUFD_OBJ_ANY);
 *     if (IS_ERR(pt_obj)) {
 *             rc = -EINVAL;
 *             goto out_put_idev;
 *     }
 *
 * The fault: `rc = PTR_ERR(pt_obj);` — the lookup's errno passes through.
 *
 * A user sees IOMMU_HWPT_ALLOC with a valid dev_id and an unknown (or
 * destroyed, or still-unfinalized) pt_id fail with ENOENT instead of EINVAL,
 * an ABI change for callers that tell a bad parent (EINVAL) from a bad device
 * (ENOENT). Both profiles.
 *
 * Applied as: iommufd_hwpt_alloc (hwptAllocWith, _hwpt_alloc.ts) whose
 * failed pt_id lookup answers its own errno.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { ENOENT } from '../../../impl/lib/errno.ts';
import { mutantImplementation } from '../harness.ts';
import { hwptAllocWith } from './_hwpt_alloc.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('hwpt-alloc-pt-lookup-errno', profile, {
    // THE FAULT: rc = PTR_ERR(pt_obj) instead of -EINVAL.
    handlers: { IOMMU_HWPT_ALLOC: hwptAllocWith({ badPt: () => -ENOENT }) },
  });
}
