/**
 * mock-domain-dev-flags-for-plain-op (iommufd_test_mock_domain,
 * drivers/iommu/iommufd/selftest.c; reached by the plain
 * IOMMU_TEST_OP_MOCK_DOMAIN whose argument has non-zero bytes where the
 * union's mock_domain_flags.dev_flags member would be, i.e. after the three
 * out ids of mock_domain; 6.12 and 7.3).
 *
 * The kernel's code (6.12; 7.3 the same):
 *
 *     u32 pt_id = cmd->id;
 *     u32 dev_flags = 0;
 *     ...
 *     if (cmd->op == IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS)
 *             dev_flags = cmd->mock_domain_flags.dev_flags;
 *
 *     sobj->idev.mock_dev = mock_dev_create(dev_flags);
 *     if (IS_ERR(sobj->idev.mock_dev)) {
 *             rc = PTR_ERR(sobj->idev.mock_dev);
 *             goto out_sobj;
 *     }
 *
 * The two ops share one handler; only MOCK_DOMAIN_FLAGS carries dev_flags,
 * the plain op's union member (mock_domain: out_stdev_id, out_hwpt_id,
 * out_idev_id) ends before it, so whatever the caller left in those bytes
 * is not an input of the plain op.
 *
 * The fault: the op test is dropped ("the member is zero for the plain op
 * anyway"), dev_flags is always read from the union:
 *
 *     u32 dev_flags = cmd->mock_domain_flags.dev_flags;
 *
 * Observable: a plain MOCK_DOMAIN whose argument (a reused or not zeroed
 * struct iommu_test_cmd, syzkaller's) holds bits there no longer ignores
 * them: unknown bits make it fail with EINVAL from mock_dev_create,
 * MOCK_FLAGS_DEVICE_NO_DIRTY makes the device refuse dirty tracking
 * (IOMMU_HWPT_ALLOC_DIRTY_TRACKING for it answers EOPNOTSUPP, its
 * GET_HW_INFO drops IOMMU_HW_CAP_DIRTY_TRACKING), MOCK_FLAGS_DEVICE_HUGE_IOVA
 * gives its domains a huge IO page size. A zeroed argument, and
 * MOCK_DOMAIN_FLAGS, answer as the kernel.
 *
 * Applied as: IOMMU_TEST_OP_MOCK_DOMAIN(_FLAGS) runs _mock_domain.ts's
 * iommufd_test_mock_domain reading dev_flags for both ops; every other test
 * op is the reference's.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mockDomainHandler, mockDomainOps } from './_mock_domain.ts';
import { mutantImplementation } from '../harness.ts';

// THE FAULT: dev_flags is read from the union whatever the op (the kernel reads it for MOCK_DOMAIN_FLAGS only).
const mockDomain = mockDomainHandler({ flagsForFlagsOpOnly: false });

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('mock-domain-dev-flags-for-plain-op', profile, {
    handlers: {
      IOMMU_TEST_CMD: mockDomainOps(mockDomain),
    },
  });
}
