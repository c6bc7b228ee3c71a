/**
 * hw-info-max-pasid-not-cleared (drivers/iommu/iommufd/device.c
 * iommufd_get_hw_info, IOMMU_GET_HW_INFO; 6.12 and 7.3).
 *
 * struct iommu_hw_info is copied in from the caller and copied back whole by
 * iommufd_ucmd_respond, so an out member the kernel does not write returns
 * whatever the caller's memory held. The kernel writes the PASID width
 * unconditionally, zero first, and the log2 only for a device whose PASID
 * support is enabled:
 *
 *         cmd->out_max_pasid_log2 = 0;
 *         // (comment: all iommu drivers enable PASID in probe_device()
 *         //  when the IOMMU and the device support it)
 *         if (idev->dev->iommu->max_pasids) {
 *                 cmd->out_max_pasid_log2 = ilog2(idev->dev->iommu->max_pasids);
 *                 ...
 *         }
 *
 *         rc = iommufd_ucmd_respond(ucmd, sizeof(*cmd));
 *
 * THE FAULT loses the `cmd->out_max_pasid_log2 = 0;` line (the assignment
 * inside the if reads as the whole story, and "out" members of the kernel's
 * copy look initialised): for a device without PASID (max_pasids == 0: any
 * mock device made without MOCK_FLAGS_DEVICE_PASID, a VT-d/AMD/SMMU device
 * whose unit or function lacks PASID) the answer is the caller's input byte.
 *
 * A caller that zeroes its struct once and reuses it (ask device A, then
 * device B with the same struct, as a VMM enumerating its devices does)
 * carries A's PASID width into B's answer: the VMM advertises PASID to the
 * guest for B, and every later IOMMU_HWPT_ALLOC / attach with a pasid for B
 * fails (or a guest driver programs PASID-tagged DMA the device cannot
 * issue). Any garbage in the byte of a caller that did not zero its struct
 * is reported as a PASID width the same way.
 *
 * Applied as: IOMMU_GET_HW_INFO answered by _hw_info.ts's iommufd_get_hw_info
 * that writes out_max_pasid_log2 only when the device has PASIDs.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { getHwInfoWith } from './_hw_info.ts';
import { mutantImplementation } from '../harness.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('hw-info-max-pasid-not-cleared', profile, {
    // THE FAULT: `cmd->out_max_pasid_log2 = 0;` is gone (iommufd_get_hw_info).
    handlers: { IOMMU_GET_HW_INFO: getHwInfoWith({ clearMaxPasid: false }) },
  });
}
