/**
 * R23-C2 — replace-unresv-without-ioas-test (drivers/iommu/iommufd/device.c
 * iommufd_device_do_replace, its success path; 6.12 and 7.3 alike; reached by
 * VFIO_DEVICE_ATTACH_IOMMUFD_PT on an attached device, by HWPT id or by IOAS
 * id through iommufd_device_auto_get_domain).
 *
 * A replace moves the whole group to the new HWPT. Each attached device owns
 * its reserved regions (the MSI window, firmware / device-specific ranges,
 * the AMD HyperTransport hole) in the IOAS it translates through. When the
 * new HWPT sits on another IOAS they are reserved there first
 * (iommufd_group_do_replace_reserved_iova) and, once the domain has
 * switched, taken out of the old IOAS — only then: when both HWPTs share one
 * IOAS the group keeps translating through it and the regions must stay.
 * 6.12:
 *
 *     old_hwpt_paging = find_hwpt_paging(old_hwpt);
 *     if (old_hwpt_paging &&
 *         (!hwpt_paging || hwpt_paging->ioas != old_hwpt_paging->ioas))
 *             iommufd_group_remove_reserved_iova(igroup, old_hwpt_paging);
 *
 * (7.3 adds `pasid == IOMMU_NO_PASID &&` to the same test.)
 *
 * THE FAULT: the IOAS clause is lost when the test is rewritten ("the group
 * has left the old HWPT, so its reservations leave the old HWPT's IOAS";
 * the 7.3 PASID rework touched exactly this line):
 *
 *     if (old_hwpt_paging && pasid == IOMMU_NO_PASID)
 *             iommufd_group_remove_reserved_iova(igroup, old_hwpt_paging);
 *
 * A replace onto a HWPT of another IOAS behaves exactly as before. A replace
 * onto another HWPT of the SAME IOAS — an automatic HWPT swapped for one the
 * VMM allocated with IOMMU_HWPT_ALLOC (to get dirty tracking or a nesting
 * parent), one user HWPT for another, or a user HWPT back to the IOAS by id
 * — answers 0 and switches the domain correctly, but takes every attached
 * device's reserved regions out of the IOAS the group still translates
 * through. Nothing shows on that command; later commands on other objects
 * run into it while the devices stay attached:
 *   - IOMMU_IOAS_MAP / IOMMU_IOAS_COPY / VFIO_IOMMU_MAP_DMA and
 *     IOMMU_IOAS_ALLOW_IOVAS accept the MSI doorbell window (0xfee00000 on
 *     x86, the SW_MSI window on Arm) and the devices' own reserved ranges,
 *     and IOMMU_IOAS_IOVA_RANGES reports them usable;
 *   - once something is mapped there, the device's MSI writes (and its DMA to
 *     its firmware-owned range) are translated into user pages instead of
 *     reaching the interrupt controller: interrupts are lost, and a guest
 *     that can program the device's MSI address writes into its own (or,
 *     with a shared IOAS, another device's) memory through a window the
 *     kernel promised to keep out of reach.
 * The regions come back only when a device of the group attaches again.
 *
 * Applied as: VFIO_DEVICE_ATTACH_IOMMUFD_PT on an attached device (the
 * replace branch of vfio_iommufd_physical_attach_ioas) runs a copy of the
 * reference's iommufd_device_replace without the IOAS clause; attach, detach
 * and everything else are the reference's. (Selftest mock devices have no
 * reserved regions, so IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE is unchanged.)
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation } from '../harness.ts';
import { deviceReplaceWith, replaceAttachIoctl } from './_replace.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('replace-unresv-without-ioas-test', profile, {
    // vfio_df_ioctl_attach_pt, replace branch of vfio_iommufd_physical_attach_ioas (a first attach is the reference's).
    // THE FAULT: the IOAS test is gone; the old HWPT's IOAS loses the group's regions even when it is the new one's.
    vfioIoctl: replaceAttachIoctl(deviceReplaceWith({ leftOldIoas: () => true })),
  });
}
