/**
 * mock-domain-efault-skips-detach (selftest mock device, error unwind):
 * iommufd_test_mock_domain (drivers/iommu/iommufd/selftest.c). The kernel:
 *
 *     rc = iommufd_ucmd_respond(ucmd, sizeof(*cmd));
 *     if (rc)
 *         goto out_detach;
 *     ...
 * out_detach:
 *     iommufd_device_detach(idev, IOMMU_NO_PASID);
 * out_unbind:
 *     iommufd_device_unbind(idev);
 *
 * THE FAULT: a failed copy-back of the answer jumps to out_unbind, so the
 * device attached a moment earlier is unbound while still attached: the
 * iommufd_group keeps pointing at the HWPT, the HWPT keeps the attach
 * reference (and, for an automatic domain, its IOAS keeps the HWPT), the
 * IOAS's reserved regions for the device stay.
 *
 * What a user sees: IOMMU_TEST_OP_MOCK_DOMAIN whose argument sits in memory
 * the process cannot write fails with EFAULT as it should, but the IOAS it
 * named now holds a (hidden or stray) HWPT: IOMMU_DESTROY of the IOAS is
 * EBUSY instead of 0, the automatic HWPT's id stays taken, and mappings of
 * the IOAS keep being filled into a domain no device uses.
 *
 * Applied as: the reference's iommufd_test_mock_domain (mockDomainHandler in
 * _mock_domain.ts) with the respond-failure branch skipping
 * iommufd_device_detach; the kernel's unbind of a still-referenced device
 * WARNs and leaves it, where the reference's throws. Both profiles.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { IOMMU_TEST_OP_MOCK_DOMAIN, IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS } from '../../../spec/uapi/constants.ts';
import { mutantImplementation } from '../harness.ts';
import { mockDomainHandler } from './_mock_domain.ts';

/** iommufd_test_mock_domain with THE FAULT on the respond error path (goto out_unbind). */
const mockDomain = mockDomainHandler({ respondFailDetaches: false });

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('mock-domain-efault-skips-detach', profile, {
    handlers: {
      IOMMU_TEST_CMD: (ucmd, original) => {
        const op = ucmd.cmd.num('op');
        if (op !== IOMMU_TEST_OP_MOCK_DOMAIN && op !== IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS) return original(ucmd);
        return mockDomain(ucmd);
      },
    },
  });
}
