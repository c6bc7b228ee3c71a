/**
 * replace-sets-group-hwpt-before-replace (drivers/iommu/iommufd/device.c
 * iommufd_device_do_replace; 6.12 and 7.3, each in its own form).
 *
 * A replace moves the whole iommu_group to the new HWPT's domain, and only
 * once the IOMMU accepted the new domain does iommufd record it as the
 * group's HWPT — the value every later attach of a sibling device is checked
 * against, and the HWPT the last detach puts. 6.12:
 *
 *     old_hwpt = igroup->hwpt;
 *     if (hwpt_paging) {
 *             rc = iommufd_group_do_replace_reserved_iova(igroup, hwpt_paging);
 *             if (rc)
 *                     goto err_unlock;
 *     }
 *
 *     rc = iommufd_hwpt_replace_device(idev, pasid, hwpt, old_hwpt);
 *     if (rc)
 *             goto err_unresv;
 *
 *     old_hwpt_paging = find_hwpt_paging(old_hwpt);
 *     if (old_hwpt_paging &&
 *         (!hwpt_paging || hwpt_paging->ioas != old_hwpt_paging->ioas))
 *             iommufd_group_remove_reserved_iova(igroup, old_hwpt_paging);
 *
 *     igroup->hwpt = hwpt;
 *
 * (7.3: `attach->hwpt = hwpt;` at the same place, after the same call.)
 *
 * THE FAULT: the group's HWPT is published before the replace of the domain,
 * so that iommufd_hwpt_replace_device()'s IOPF bookkeeping and the fault
 * path (which look the attach up through the group) already see the new
 * HWPT:
 *
 *     igroup->hwpt = hwpt;            (7.3: attach->hwpt = hwpt;)
 *     rc = iommufd_hwpt_replace_device(idev, pasid, hwpt, old_hwpt);
 *     if (rc)
 *             goto err_unresv;
 *
 * and err_unresv only takes the reserved regions back: a failed replace
 * leaves the group naming the new HWPT while its hardware stays on the old
 * domain, and the references stay where they were (the attached devices'
 * on the old HWPT, none on the new).
 *
 * iommu_replace_group_handle() fails for ordinary reasons: the new HWPT's
 * domain belongs to another IOMMU driver (a HWPT allocated for a device
 * behind another unit), a coherency-enforcing domain for a device without
 * snoop control, or the attach handle's kzalloc. The failing replace answers
 * its errno correctly and the device's DMA stays on the old HWPT; what
 * follows goes wrong:
 *
 *   - a sibling device of the group attaching to the HWPT the replace failed
 *     on is accepted (the kernel: EINVAL, the group is on the old HWPT): it
 *     is reported attached to the new HWPT (another IOAS, possibly) but its
 *     DMA is translated by the old one — it reaches the old IOAS's memory
 *     and none of what the HWPT it was given maps;
 *   - a sibling attaching to the old HWPT (where the group really is) is
 *     refused with EINVAL;
 *   - a later replace back to the old HWPT is no longer a no-op: it moves
 *     the devices' references onto it again and puts the HWPT the group
 *     never reached; the last detach likewise puts the new HWPT instead of
 *     the old one: refcount underflow on the one, a leaked reference (an
 *     IOMMU_DESTROY that stays EBUSY, an IOAS that can never be destroyed)
 *     on the other;
 *   - by IOAS id, the automatic search sends every refused HWPT on to the
 *     next (EINVAL = incompatible) and allocates a new automatic HWPT: the
 *     group's recorded HWPT is then a refused one (the next replace moves
 *     the references off it, not off the HWPT the group is on), or a new
 *     automatic HWPT whose replace failed and that out_abort freed.
 *
 * Applied as: VFIO_DEVICE_ATTACH_IOMMUFD_PT on an attached device
 * (vfio_iommufd_physical_attach_ioas → iommufd_device_replace) and
 * IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE run a copy of iommufd_device_replace →
 * iommufd_device_change_pt (by HWPT id, or by IOAS id through
 * iommufd_device_auto_get_domain in replace mode) with this
 * iommufd_device_do_replace (_replace.ts). A first attach, detach and everything else are
 * the reference's. The HWPT objects count their users as the kernel's refcount_t
 * does: a refcount_dec() that would reach zero (the last detach putting the
 * HWPT the group never reached) WARNs and saturates, leaking the object,
 * where the reference's model of refcount_dec throws.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE } from '../../../spec/uapi/constants.ts';
import { iommufdHwptPagingAlloc } from '../../../impl/iommufd/hw_pagetable.ts';
import { mutantImplementation } from '../harness.ts';
import { kernelRefcount } from './_kernel_refcount.ts';
import { deviceReplaceWith, mockDomainReplaceWith, replaceAttachIoctl } from './_replace.ts';

/** iommufd_device_replace → iommufd_device_change_pt(iommufd_device_do_replace), with THE FAULT. */
const deviceReplace = deviceReplaceWith({
  // THE FAULT: published before iommufd_hwpt_replace_device, not taken back when it fails.
  publishesEarly: true,
  allocAuto: (ictx, ioas, idev) => {
    const r = iommufdHwptPagingAlloc(ictx, ioas, idev, 0, false, undefined);
    // A failed replace may leave the group naming it after out_abort frees it.
    if (r.value) kernelRefcount(r.value);
    return r;
  },
});
const testMockDomainReplace = mockDomainReplaceWith(deviceReplace);

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('replace-sets-group-hwpt-before-replace', profile, {
    handlers: {
      IOMMU_TEST_CMD: (ucmd, original) => (ucmd.cmd.num('op') === IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE ? testMockDomainReplace(ucmd) : original(ucmd)),
    },
    vfioIoctl: replaceAttachIoctl(deviceReplace),
    object: (obj) => {
      if (obj.type === 'HWPT_PAGING') kernelRefcount(obj);
    },
  });
}
