/**
 * md-check-iotlb-paging-lookup (drivers/iommu/iommufd/selftest.c
 * get_md_pagetable_nested, called by iommufd_test_md_check_iotlb for
 * IOMMU_TEST_OP_MD_CHECK_IOTLB; 6.12 and 7.3).
 *
 * The kernel looks the id up as a nested HWPT, so any other object (an IOAS,
 * a paging HWPT, a device) is ENOENT, and only then checks the domain ops:
 *
 *         hwpt = __get_md_pagetable(ucmd, mockpt_id, IOMMUFD_OBJ_HWPT_NESTED);
 *         if (IS_ERR(hwpt))
 *                 return hwpt;
 *         if (hwpt->domain->type != IOMMU_DOMAIN_NESTED ||
 *             hwpt->domain->ops != &domain_nested_ops) {
 *                 iommufd_put_object(ucmd->ictx, &hwpt->obj);
 *                 return ERR_PTR(-EINVAL);
 *         }
 *
 * Fault (a copy-paste from get_md_pagetable just above it):
 *
 *         hwpt = __get_md_pagetable(ucmd, mockpt_id, IOMMUFD_OBJ_HWPT_PAGING);
 *
 * A paging HWPT id now passes the lookup and fails the domain-type test, so
 * MD_CHECK_IOTLB on a paging HWPT (an auto domain from MOCK_DOMAIN, a
 * HWPT_ALLOC without data) answers EINVAL instead of ENOENT; every other id
 * (nested HWPTs are not served here) is ENOENT as before.
 *
 * Applied as: IOMMU_TEST_CMD/MD_CHECK_IOTLB answers EINVAL when cmd.id is a
 * HWPT_PAGING of this context, else the reference's handler.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation } from '../harness.ts';
import { IOMMU_TEST_OP_MD_CHECK_IOTLB } from '../../../spec/uapi/constants.ts';
import { iommufdGetObject } from '../../../impl/iommufd/object.ts';
import { EINVAL } from '../../../impl/lib/errno.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('md-check-iotlb-paging-lookup', profile, {
    handlers: {
      IOMMU_TEST_CMD: (ucmd, original) => {
        if (ucmd.cmd.num('op') !== IOMMU_TEST_OP_MD_CHECK_IOTLB) return original(ucmd);
        const r = iommufdGetObject(ucmd.ctx, ucmd.cmd.num('id'), 'HWPT_PAGING');
        if (r.errno) return r.errno; // ENOENT, as the nested lookup would give
        return -EINVAL; // domain->type != IOMMU_DOMAIN_NESTED
      },
    },
  });
}
