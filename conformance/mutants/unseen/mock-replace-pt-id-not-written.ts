/**
 * mock-replace-pt-id-not-written (selftest mock device, answer not written):
 * iommufd_test_mock_domain_replace (drivers/iommu/iommufd/selftest.c). The kernel:
 *
 *     rc = iommufd_device_replace(sobj->idev.idev, IOMMU_NO_PASID, &pt_id);
 *     if (rc)
 *         goto out_sobj;
 *
 *     cmd->mock_domain_replace.pt_id = pt_id;
 *     rc = iommufd_ucmd_respond(ucmd, sizeof(*cmd));
 *
 * THE FAULT: the `cmd->mock_domain_replace.pt_id = pt_id;` line is lost, so
 * the response copies back the caller's own pt_id instead of the id
 * iommufd_device_replace() resolved it to.
 *
 * What a user sees: IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE onto an IOAS succeeds
 * but answers with the IOAS id, not the id of the (automatic) HWPT the device
 * is now attached to; a replace onto a HWPT id is unaffected. Both profiles.
 *
 * Applied as: mockDomainReplaceWith (_replace.ts) over the reference's
 * iommufd_device_replace, without the write-back of pt_id.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE } from '../../../spec/uapi/constants.ts';
import { iommufdDeviceReplace } from '../../../impl/iommufd/device.ts';
import { mutantImplementation } from '../harness.ts';
import { mockDomainReplaceWith } from './_replace.ts';

/** iommufd_test_mock_domain_replace with THE FAULT: cmd->mock_domain_replace.pt_id = pt_id; is missing. */
const mockDomainReplace = mockDomainReplaceWith(iommufdDeviceReplace, false);

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('mock-replace-pt-id-not-written', profile, {
    handlers: {
      IOMMU_TEST_CMD: (ucmd, original) => (ucmd.cmd.num('op') === IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE ? mockDomainReplace(ucmd) : original(ucmd)),
    },
  });
}
