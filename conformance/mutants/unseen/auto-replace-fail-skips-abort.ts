/**
 * auto-replace-fail-skips-abort (drivers/iommu/iommufd/device.c
 * iommufd_device_auto_get_domain, replace mode).
 *
 * When a device that is already attached is moved to an IOAS
 * (iommufd_device_replace with an IOAS pt_id, i.e. a second
 * VFIO_DEVICE_ATTACH_IOMMUFD_PT or IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE) and no
 * automatic HWPT of that IOAS takes the device, a new one is allocated
 * without immediate attach and then attached through do_replace:
 *
 *     hwpt_paging = iommufd_hwpt_paging_alloc(idev->ictx, ioas, idev, pasid,
 *                                             0, immediate_attach, NULL);
 *     ...
 *     if (!immediate_attach) {
 *             destroy_hwpt = (*do_attach)(idev, pasid, hwpt);
 *             if (IS_ERR(destroy_hwpt))
 *                     goto out_abort;
 *     }
 *     ...
 * out_abort:
 *     iommufd_object_abort_and_destroy(idev->ictx, &hwpt->obj);
 * out_unlock:
 *     mutex_unlock(&ioas->mutex);
 *
 * THE FAULT: the failed do_replace jumps to out_unlock (the label the
 * allocation failure above uses), so the new HWPT is never aborted. By then
 * iommufd_hwpt_paging_alloc has taken a users reference on the IOAS,
 * iopt_table_add_domain has mapped every area of the IOAS into the new domain
 * (pinning and charging the pages if it was the IOAS's first domain) and the
 * HWPT sits on ioas->hwpt_list with its object id reserved but never
 * finalized.
 *
 * do_replace fails after the allocation when the device's (or a group
 * sibling's) reserved regions collide with a mapping of the target IOAS
 * (EADDRINUSE), when the group's devices refuse the new domain
 * (a mixed-coherency group: EINVAL), or on the attach handle's allocation.
 *
 * Consequence for a user: the failed replace returns its errno and the device
 * stays where it was, but the pages mapped in the target IOAS are now pinned
 * (and charged) by a domain nobody can name; the IOAS can never be destroyed
 * (EBUSY: the invisible HWPT holds it), so closing every fd leaves it, its
 * mappings, their pins and the memlock/pinned_vm charge behind; and the
 * reserved object id is skipped by every later allocation of the context.
 *
 * Applied as: the reference's iommufd_device_replace (change_pt, the
 * automatic-domain search and do_replace, copied from impl/iommufd/device.ts)
 * with the label changed, for the two callers that replace through an IOAS:
 * the VFIO cdev ATTACH of an attached device and the selftest's
 * MOCK_DOMAIN_REPLACE. Everything else is the reference's.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation } from '../harness.ts';
import { IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE } from '../../../spec/uapi/constants.ts';
import { deviceReplaceWith, mockDomainReplaceWith, replaceAttachIoctl } from './_replace.ts';

/** iommufd_device_replace whose auto_get_domain, on a failed replace onto a new automatic HWPT, does `goto out_unlock`: iommufd_object_abort_and_destroy(idev->ictx, &hwpt->obj) is skipped (THE FAULT). */
const deviceReplace = deviceReplaceWith({ abortFailedAuto: false });
const testMockDomainReplace = mockDomainReplaceWith(deviceReplace);

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('auto-replace-fail-skips-abort', profile, {
    // vfio_df_ioctl_attach_pt → vfio_iommufd_physical_attach_ioas on an attached device: iommufd_device_replace.
    vfioIoctl: replaceAttachIoctl(deviceReplace),
    handlers: {
      // iommufd_test_mock_domain_replace
      IOMMU_TEST_CMD: (ucmd, original) => {
        const { cmd, ctx } = ucmd;
        if (cmd.num('op') !== IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE) return original(ucmd);
        const sobj = ctx.objects.load(cmd.num('id'));
        const ptObj = ctx.objects.load(cmd.num('mock_domain_replace.pt_id'));
        if (sobj?.type !== 'SELFTEST' || ptObj?.type !== 'IOAS') return original(ucmd);
        return testMockDomainReplace(ucmd);
      },
    },
  });
}
