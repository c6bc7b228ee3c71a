/**
 * hw-info-ats-not-supported-inverted (drivers/iommu/iommufd/device.c iommufd_get_hw_info).
 * 7.3 only (6.12 has no IOMMU_HW_CAP_PCI_ATS_NOT_SUPPORTED).
 *
 * IOMMU_GET_HW_INFO reports a device that cannot use ATS:
 *     cmd->out_capabilities = 0;
 *     if (device_iommu_capable(idev->dev, IOMMU_CAP_DIRTY_TRACKING))
 *             cmd->out_capabilities |= IOMMU_HW_CAP_DIRTY_TRACKING;
 *
 *     /* Report when ATS cannot be used for this device *\/
 *     if (!device_iommu_capable(idev->dev, IOMMU_CAP_PCI_ATS_SUPPORTED))
 *             cmd->out_capabilities |= IOMMU_HW_CAP_PCI_ATS_NOT_SUPPORTED;
 * The fault loses the `!` (the capability is positive, the uAPI bit negative,
 * and the patch wrote the test the way the capability reads): the bit is set
 * exactly for the devices that can use ATS and clear for those that cannot.
 *
 * What a user sees: out_capabilities has IOMMU_HW_CAP_PCI_ATS_NOT_SUPPORTED
 * clear for a device whose IOMMU cannot do ATS (every simulated device), so a
 * VMM exposes an ATS capability to the guest (vIOMMU ATS / ATC invalidation)
 * that the physical path cannot honour, and hides it where it works.
 *
 * Applied as: after the reference's handler succeeds, the bit is flipped in
 * the command and the command is copied back again. 7.3 only.
 */
import { IOMMU_HW_CAP_PCI_ATS_NOT_SUPPORTED } from '../../../spec/uapi/constants.ts';
import { iommufdUcmdRespond } from '../../../impl/iommufd/iommufd_private.ts';
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation } from '../harness.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('hw-info-ats-not-supported-inverted', profile, {
    handlers: {
      IOMMU_GET_HW_INFO: (ucmd, original) => {
        const rc = original(ucmd);
        if (rc || ucmd.ctx.profile !== '7.3') return rc;
        // THE FAULT: if (device_iommu_capable(dev, IOMMU_CAP_PCI_ATS_SUPPORTED)) caps |= ..._NOT_SUPPORTED;
        ucmd.cmd.set('out_capabilities', ucmd.cmd.big('out_capabilities') ^ BigInt(IOMMU_HW_CAP_PCI_ATS_NOT_SUPPORTED));
        return iommufdUcmdRespond(ucmd);
      },
    },
  });
}
