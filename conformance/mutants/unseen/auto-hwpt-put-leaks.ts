/**
 * Round 6a fault (HWPT lifetime, auto domains): iommufd_hw_pagetable_put
 * (drivers/iommu/iommufd/iommufd_private.h) tests the wrong object type
 * before the auto-domain self-destruct:
 *
 *     if (hwpt->obj.type == IOMMUFD_OBJ_HWPT_NESTED) {    // should be _PAGING
 *         struct iommufd_hwpt_paging *hwpt_paging = to_hwpt_paging(hwpt);
 *         if (hwpt_paging->auto_domain) {
 *             iommufd_object_put_and_try_destroy(ictx, &hwpt->obj);
 *             return;
 *         }
 *     }
 *     refcount_dec(&hwpt->obj.users);
 *
 * so a paging HWPT that iommufd created automatically (an attach with pt_id
 * = an IOAS) only loses the device's reference when its last device leaves;
 * it is never destroyed.
 *
 * Consequence: after the last device detaches (VFIO_DEVICE_DETACH_IOMMUFD_PT,
 * a replace onto another HWPT, closing the device file, destroying a mock
 * device) the automatic HWPT and its iommu_domain stay: it stays in
 * ioas->hwpt_list, so every later IOMMU_IOAS_MAP still fills a domain no
 * device uses (and pins and charges its pages), IOMMU_DESTROY of the IOAS is
 * EBUSY until userspace destroys a HWPT id it never allocated, and the id is
 * not reused.
 *
 * Applied as: an automatic HWPT_PAGING whose destroy runs from the put (not
 * from IOMMU_DESTROY of its own id, not from the release of the iommufd file)
 * is put back in the table at its id with the table's reference only.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import type { IommufdHwptPaging } from '../../../impl/iommufd/iommufd_private.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';

export function createAdapter(profile: Profile): Implementation {
  let destroyingId: number | null = null;
  return mutantImplementation('auto-hwpt-put-leaks', profile, {
    handlers: {
      IOMMU_DESTROY: (ucmd, original) => {
        const outer = destroyingId;
        destroyingId = ucmd.cmd.num('id');
        try {
          return original(ucmd);
        } finally {
          destroyingId = outer;
        }
      },
    },
    object: (obj, ctx) => {
      if (obj.type !== 'HWPT_PAGING') return;
      const hwpt = obj as IommufdHwptPaging;
      patchOwn(hwpt, 'destroy', (destroy) => () => {
        const releasing = (ctx.file as { released?: boolean } | null)?.released === true;
        if (hwpt.autoDomain && !releasing && destroyingId !== hwpt.id && !ctx.objects.has(hwpt.id)) {
          // refcount_dec only: the object stays published with the table's reference.
          hwpt.users = 1;
          ctx.objects.store(hwpt.id, hwpt);
          return;
        }
        destroy();
      });
    },
  });
}
