/**
 * R34-C4 — hwpt-paging-flags-lack-pasid (drivers/iommu/iommufd/hw_pagetable.c
 * iommufd_hwpt_paging_alloc; 7.3 only: 6.12 has no IOMMU_HWPT_ALLOC_PASID).
 *
 * 7.3 lets a paging HWPT be allocated PASID-capable (IOMMU_HWPT_ALLOC_PASID,
 * recorded as pasid_compat) and lists the flag among the paging flags:
 *
 *     const u32 valid_flags = IOMMU_HWPT_ALLOC_NEST_PARENT |
 *                             IOMMU_HWPT_ALLOC_DIRTY_TRACKING |
 *                             IOMMU_HWPT_FAULT_ID_VALID |
 *                             IOMMU_HWPT_ALLOC_PASID;
 *     ...
 *     if (flags & ~valid_flags)
 *             return ERR_PTR(-EOPNOTSUPP);
 *
 * THE FAULT: the flag was added to iommufd_hwpt_nested_alloc's mask and the
 * uAPI but not to this one (a partial backport of the PASID series; the
 * 6.12-era valid_flags kept):
 *
 *     const u32 valid_flags = IOMMU_HWPT_ALLOC_NEST_PARENT |
 *                             IOMMU_HWPT_ALLOC_DIRTY_TRACKING |
 *                             IOMMU_HWPT_FAULT_ID_VALID;
 *
 * Observable: IOMMU_HWPT_ALLOC of a paging HWPT (pt_id an IOAS) with
 * IOMMU_HWPT_ALLOC_PASID answers EOPNOTSUPP where 7.3 allocates it; a VMM
 * that needs a PASID-compatible domain cannot get one. The order of the other
 * checks (reserved, data, dev_id, pt_id) is unchanged.
 *
 * Applied as: on 7.3, iommufd_hwpt_paging_alloc called from IOMMU_HWPT_ALLOC
 * refuses IOMMU_HWPT_ALLOC_PASID with EOPNOTSUPP before anything else.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { EOPNOTSUPP } from '../../../impl/lib/errno.ts';
import { IOMMU_HWPT_ALLOC_PASID } from '../../../spec/uapi/constants.ts';
import { iommufdHwptPagingAlloc } from '../../../impl/iommufd/hw_pagetable.ts';
import { mutantImplementation } from '../harness.ts';
import { hwptAllocWith } from './_hwpt_alloc.ts';

export function createAdapter(profile: Profile): Implementation {
  const alloc = hwptAllocWith({
    pagingAlloc: (ictx, ioas, idev, flags, immediateAttach, userData) =>
      ictx.profile === '7.3' && flags & IOMMU_HWPT_ALLOC_PASID ? { errno: -EOPNOTSUPP } : iommufdHwptPagingAlloc(ictx, ioas, idev, flags, immediateAttach, userData),
  });
  return mutantImplementation('hwpt-paging-flags-lack-pasid', profile, {
    handlers: { IOMMU_HWPT_ALLOC: (ucmd) => alloc(ucmd) },
  });
}
