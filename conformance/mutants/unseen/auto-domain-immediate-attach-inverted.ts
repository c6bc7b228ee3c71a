/**
 * auto-domain-immediate-attach-inverted (drivers/iommu/iommufd/device.c
 * iommufd_device_auto_get_domain).
 *
 * When a device is attached (or an attached device is moved) to an IOAS and
 * no automatic HWPT of that IOAS takes it, a new one is allocated. How depends
 * on the caller: an attach allocates it in immediate-attach mode (the group is
 * attached inside iommufd_hwpt_paging_alloc, before the domain is filled,
 * which drivers that finish a domain only at attach need); a replace cannot
 * (iommufd_hw_pagetable_attach refuses a group that is already attached to
 * another HWPT), so it allocates the HWPT unattached and moves the group with
 * do_attach = iommufd_device_do_replace afterwards. The kernel (6.12 and 7.3):
 *
 *     bool immediate_attach = do_attach == iommufd_device_do_attach;
 *     ...
 *     hwpt_paging = iommufd_hwpt_paging_alloc(idev->ictx, ioas, idev, pasid,
 *                                             0, immediate_attach, NULL);
 *     ...
 *     if (!immediate_attach) {
 *             destroy_hwpt = (*do_attach)(idev, pasid, hwpt);
 *             if (IS_ERR(destroy_hwpt))
 *                     goto out_abort;
 *     } else {
 *             destroy_hwpt = NULL;
 *     }
 *
 * THE FAULT: the mode is derived from the wrong attach function,
 *
 *     bool immediate_attach = do_attach == iommufd_device_do_replace;
 *
 * Attach now allocates the HWPT unattached, fills the domain with the whole
 * IOAS, and only then attaches the group through do_attach (a slower path
 * that ends in the same state, with the IOAS's pins and charges taken before
 * the attach can refuse). Replace now asks iommufd_hwpt_paging_alloc to
 * attach the already-attached device immediately: iommufd_hw_pagetable_attach
 * sees igroup->hwpt != NULL && igroup->hwpt != hwpt and answers -EINVAL, the
 * new HWPT is aborted, and the replace fails.
 *
 * Consequence (several commands, two IOASes): a device attached to one IOAS
 * can no longer be moved to another IOAS (or to an IOAS whose automatic HWPTs
 * are all incompatible with it) by IOAS id: VFIO_DEVICE_ATTACH_IOMMUFD_PT on
 * the attached device, or IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE, fails with
 * EINVAL and the device stays where it was — DMA keeps going through the old
 * IOAS's mappings that the VMM believes it left. The same replace works when
 * the target IOAS already has an automatic HWPT the device accepts, or when
 * the user names a HWPT, so it only shows with the right history. A
 * first attach by IOAS id still works; where both steps would fail (a
 * reserved region of the device over a mapping, and a pin over
 * RLIMIT_MEMLOCK) it answers the fill's errno instead of the attach's.
 *
 * Applied on both users of iommufd_device_attach / _replace: the VFIO cdev's
 * VFIO_DEVICE_ATTACH_IOMMUFD_PT (vfio_df_ioctl_attach_pt →
 * vfio_iommufd_physical_attach_ioas) and the selftest's
 * IOMMU_TEST_OP_MOCK_DOMAIN(_FLAGS) / _MOCK_DOMAIN_REPLACE, each a copy of the
 * reference's whose iommufd_device_auto_get_domain computes immediate_attach
 * the faulty way.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { autoDomainMutant } from './_auto_domain.ts';

export function createAdapter(profile: Profile): Implementation {
  // THE FAULT: `do_attach == iommufd_device_do_replace` for `do_attach == iommufd_device_do_attach`.
  return autoDomainMutant('auto-domain-immediate-attach-inverted', profile, { immediateAttach: (attach, { doReplace }) => attach === doReplace });
}
