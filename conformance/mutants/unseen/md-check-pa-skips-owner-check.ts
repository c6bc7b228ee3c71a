/**
 * md-check-pa-skips-owner-check (drivers/iommu/iommufd/selftest.c
 * get_md_pagetable, called by iommufd_test_md_check_pa for
 * IOMMU_TEST_OP_MD_CHECK_MAP; 6.12 and 7.3).
 *
 * The kernel's code:
 *
 *     hwpt = __get_md_pagetable(ucmd, mockpt_id, IOMMUFD_OBJ_HWPT_PAGING);
 *     if (IS_ERR(hwpt))
 *             return hwpt;
 *     if (hwpt->domain->type != IOMMU_DOMAIN_UNMANAGED ||
 *         hwpt->domain->owner != &mock_ops) {
 *             iommufd_put_object(ucmd->ictx, &hwpt->obj);
 *             return ERR_PTR(-EINVAL);
 *     }
 *     *mock = to_mock_domain(hwpt->domain);
 *
 * THE FAULT: the `hwpt->domain->owner != &mock_ops` half of the test is
 * dropped, so a HWPT_PAGING whose domain belongs to a real driver (VT-d,
 * AMD, SMMUv3: a VFIO cdev device's auto domain) is taken for a mock domain
 * and walked with the domain's iova_to_phys.
 *
 * Observable: MD_CHECK_MAP naming a HWPT of a non-mock IOMMU answers 0 (or
 * EINVAL only on a mismatch) where the kernel always answers EINVAL; in the
 * kernel this is a type confusion (to_mock_domain on a foreign domain).
 *
 * Applied as: IOMMU_TEST_OP_MD_CHECK_MAP runs a copy of
 * iommufd_test_md_check_pa over the faulty lookup; every other test op is
 * the reference's.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation } from '../harness.ts';
import { mdCheckMapOps, mdCheckPaWith } from './_md_check_pa.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('md-check-pa-skips-owner-check', profile, {
    // THE FAULT: get_md_pagetable tests the domain's type only, not its owner.
    handlers: { IOMMU_TEST_CMD: mdCheckMapOps(mdCheckPaWith({ isMockDomain: (d) => d.type === 'paging' })) },
  });
}
