/**
 * mock-domain-out-hwpt-from-request-id (drivers/iommu/iommufd/selftest.c,
 * iommufd_test_mock_domain; IOMMU_TEST_OP_MOCK_DOMAIN and _FLAGS).
 *
 * The kernel attaches the new mock device to cmd->id through a local copy
 * that iommufd_device_attach() rewrites with the HWPT it actually used (the
 * automatic domain when cmd->id is an IOAS), and reports that one:
 *
 *     u32 pt_id = cmd->id;
 *     ...
 *     rc = iommufd_device_attach(idev, IOMMU_NO_PASID, &pt_id);
 *     if (rc)
 *             goto out_unbind;
 *
 *     cmd->mock_domain.out_hwpt_id = pt_id;
 *     cmd->mock_domain.out_stdev_id = sobj->obj.id;
 *     cmd->mock_domain.out_idev_id = idev_id;
 *
 * THE FAULT (wrong variable): `cmd->mock_domain.out_hwpt_id = cmd->id;`. For a
 * HWPT id nothing changes; for an IOAS id userspace is told the IOAS's id as
 * the device's HWPT instead of the automatic HWPT's id: the real HWPT's id is
 * never reported, a later MD_CHECK_MAP / HWPT_ALLOC / DESTROY / replace that
 * uses the answer targets the IOAS (ENOENT / EBUSY or the wrong object).
 *
 * Applied as: after the reference's handler succeeds, out_hwpt_id is rewritten
 * with cmd->id and the response copied out again. Both profiles.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { IOMMU_TEST_OP_MOCK_DOMAIN, IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS } from '../../../spec/uapi/constants.ts';
import { iommufdUcmdRespond } from '../../../impl/iommufd/iommufd_private.ts';
import { mutantImplementation } from '../harness.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('mock-domain-out-hwpt-from-request-id', profile, {
    handlers: {
      IOMMU_TEST_CMD: (ucmd, original) => {
        const op = ucmd.cmd.num('op');
        if (op !== IOMMU_TEST_OP_MOCK_DOMAIN && op !== IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS) return original(ucmd);
        const rc = original(ucmd);
        if (rc) return rc;
        const requested = ucmd.cmd.num('id');
        if (ucmd.cmd.num('mock_domain.out_hwpt_id') === requested) return rc;
        ucmd.cmd.set('mock_domain.out_hwpt_id', requested); // THE FAULT
        return iommufdUcmdRespond(ucmd);
      },
    },
  });
}
