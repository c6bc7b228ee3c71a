/**
 * Round 6a fault (selftest mock device, error unwind):
 * iommufd_test_mock_domain (drivers/iommu/iommufd/selftest.c) jumps to the
 * wrong label when iommufd_device_attach() fails:
 *
 *     rc = iommufd_device_attach(idev, IOMMU_NO_PASID, &pt_id);
 *     if (rc)
 *         goto out_mdev;          // should be out_unbind
 *
 * so the iommufd_device bound a moment earlier is never unbound: the mock
 * device is destroyed and the selftest object's id released, but the DEVICE
 * object stays published in the context with the driver's reference (users
 * 2), holding its iommufd_group and the DMA ownership of a group whose only
 * device is gone.
 *
 * Consequence: an IOMMU_TEST_OP_MOCK_DOMAIN onto a missing or incompatible
 * pt id fails as it should but leaves a DEVICE id behind: IOMMU_DESTROY of it
 * is EBUSY forever, it consumes the id the next object should get, and
 * closing the iommufd cannot release it (iommufd_fops_release's
 * WARN_ON(!destroyed)); everything else in the context is still freed only
 * because nothing references the stray device.
 *
 * Applied as: the reference's iommufd_test_mock_domain, restated, with the
 * attach-failure branch skipping iommufd_device_unbind.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { IOMMU_TEST_OP_MOCK_DOMAIN, IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS } from '../../../spec/uapi/constants.ts';
import { mutantImplementation } from '../harness.ts';
import { mockDomainHandler } from './_mock_domain.ts';

/** iommufd_test_mock_domain with THE FAULT: a failed attach goes to out_mdev, out_unbind skipped. */
const mockDomain = mockDomainHandler({ attachFailUnbinds: false });

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('mock-attach-fail-skips-unbind', profile, {
    handlers: {
      IOMMU_TEST_CMD: (ucmd, original) => {
        const op = ucmd.cmd.num('op');
        if (op !== IOMMU_TEST_OP_MOCK_DOMAIN && op !== IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS) return original(ucmd);
        return mockDomain(ucmd);
      },
    },
  });
}
