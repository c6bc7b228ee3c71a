/**
 * hw-info-caps-not-cleared (drivers/iommu/iommufd/device.c
 * iommufd_get_hw_info, IOMMU_GET_HW_INFO; 6.12 and 7.3).
 *
 * struct iommu_hw_info is read from the caller and written back whole
 * (iommufd_ucmd_respond copies the kernel's copy of the struct over the
 * user's), so every out_* member starts as whatever the caller's memory
 * held. The kernel builds the capability word from zero, bit by bit, for the
 * device named by dev_id:
 *
 *         cmd->data_len = data_len;
 *
 *         cmd->out_capabilities = 0;
 *         if (device_iommu_capable(idev->dev, IOMMU_CAP_DIRTY_TRACKING))
 *                 cmd->out_capabilities |= IOMMU_HW_CAP_DIRTY_TRACKING;
 *
 *         // 7.3
 *         if (!device_iommu_capable(idev->dev, IOMMU_CAP_PCI_ATS_SUPPORTED))
 *                 cmd->out_capabilities |= IOMMU_HW_CAP_PCI_ATS_NOT_SUPPORTED;
 *
 * THE FAULT loses the `cmd->out_capabilities = 0;` line (an "out" member
 * of a struct the kernel "owns" looks initialised; the |= lines that follow
 * read like the whole story): the answer is the caller's input OR the
 * device's capabilities.
 *
 * A first call with a freshly zeroed struct answers right, so the damage
 * needs two commands and two devices: a VMM that asks about each of its
 * devices in turn with one struct iommu_hw_info (set dev_id, data_uptr,
 * data_len; call; read the answer; next device), or asks again after a
 * size probe, carries one device's answer into the next call. A device
 * behind a unit without dirty tracking (a mock device made with
 * MOCK_FLAGS_DEVICE_NO_DIRTY, a VT-d/AMD/SMMU unit without SLADS/HD/HTTU)
 * asked after one that has it is reported IOMMU_HW_CAP_DIRTY_TRACKING: the
 * VMM enables live migration with dirty tracking for it, and its
 * IOMMU_HWPT_ALLOC with IOMMU_HWPT_ALLOC_DIRTY_TRACKING is refused (or the
 * VMM treats the missing bitmap as "nothing dirtied" and migrates stale
 * guest memory). Any garbage in the field of a caller that did not zero its
 * struct becomes capabilities the same way.
 *
 * Applied as: IOMMU_GET_HW_INFO answered by _hw_info.ts's copy of
 * iommufd_get_hw_info whose capability word starts from the caller's
 * out_capabilities instead of 0.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation } from '../harness.ts';
import { getHwInfoWith } from './_hw_info.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('hw-info-caps-not-cleared', profile, {
    handlers: { IOMMU_GET_HW_INFO: getHwInfoWith({ clearCapabilities: false }) },
  });
}
