/**
 * auto-domain-replace-not-auto (drivers/iommu/iommufd/device.c
 * iommufd_device_auto_get_domain).
 *
 * When a device is attached to (or replaced onto) an IOAS and no automatic
 * HWPT of that IOAS accepts it, iommufd allocates one. Attach allocates it
 * with immediate attach; replace allocates it detached and then calls
 * do_attach (iommufd_device_do_replace). Either way the new HWPT is marked
 * automatic before it is published, so that it is reused by the IOAS's
 * other devices and destroyed by iommufd_hw_pagetable_put with its last
 * device:
 *
 *     if (!immediate_attach) {
 *             destroy_hwpt = (*do_attach)(idev, pasid, hwpt);
 *             if (IS_ERR(destroy_hwpt))
 *                     goto out_abort;
 *     } else {
 *             destroy_hwpt = NULL;
 *     }
 *
 *     hwpt_paging->auto_domain = true;
 *     *pt_id = hwpt->obj.id;
 *     iommufd_object_finalize(idev->ictx, &hwpt->obj);
 *
 * The fault moves `hwpt_paging->auto_domain = true;` into the else branch
 * (the immediate-attach one): an automatic HWPT created by a replace —
 * VFIO_DEVICE_ATTACH_IOMMUFD_PT on an already attached device, or
 * IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE, naming an IOAS without a compatible
 * automatic domain — is published as if the user had allocated it.
 *
 * Consequence: when its last device detaches (or is replaced elsewhere, or
 * its device file is closed) the HWPT is not destroyed. Its domain stays in
 * the IOAS: every page mapped there stays pinned and charged to the user's
 * RLIMIT_MEMLOCK / pinned_vm although no device uses it any more, and the
 * IOAS can no longer be destroyed (EBUSY) — all held by an object the user
 * never allocated and only learns of from the pt_id the ATTACH wrote back.
 * It is also never picked again by the automatic search, so every later
 * attach of another device creates yet another domain (and pins again).
 *
 * Applied as: an automatic HWPT finalized while a replace is in progress
 * (the ATTACH of an attached VFIO device, or MOCK_DOMAIN_REPLACE) has its
 * auto_domain flag cleared.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import type { IommufdHwptPaging } from '../../../impl/iommufd/iommufd_private.ts';
import { IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE } from '../../../spec/uapi/constants.ts';
import { commandByName } from '../../../spec/uapi/lookup.ts';
import { mutantImplementation } from '../harness.ts';

export function createAdapter(profile: Profile): Implementation {
  const attachReq = commandByName(profile, 'VFIO_DEVICE_ATTACH_IOMMUFD_PT')?.request;
  /** Inside iommufd_device_replace (do_attach = iommufd_device_do_replace, immediate_attach false). */
  let replacing = 0;
  const inReplace = <T>(fn: () => T): T => {
    replacing++;
    try {
      return fn();
    } finally {
      replacing--;
    }
  };
  return mutantImplementation('auto-domain-replace-not-auto', profile, {
    // vfio_iommufd_physical_attach_ioas: an attached device's ATTACH is iommufd_device_replace.
    vfioIoctl: (df, cmd, _arg, original) =>
      attachReq !== undefined && cmd >>> 0 === attachReq && df.device.iommufdAttached ? inReplace(original) : original(),
    handlers: {
      IOMMU_TEST_CMD: (ucmd, original) => (ucmd.cmd.num('op') === IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE ? inReplace(() => original(ucmd)) : original(ucmd)),
    },
    object: (obj) => {
      if (obj.type !== 'HWPT_PAGING' || !replacing) return;
      const hwpt = obj as IommufdHwptPaging;
      // THE FAULT: auto_domain is only set on the immediate-attach branch.
      if (hwpt.autoDomain) hwpt.autoDomain = false;
    },
  });
}
