/**
 * hwpt-put-destroys-user-hwpt (drivers/iommu/iommufd/iommufd_private.h
 * iommufd_hw_pagetable_put).
 *
 * A device attachment holds a users reference on its HWPT; detach (and a
 * replace, for the HWPT left behind) gives it back through
 * iommufd_hw_pagetable_put. Only an automatic domain — one iommufd created
 * itself for an IOAS pt_id — dies with its last device:
 *
 *     if (hwpt->obj.type == IOMMUFD_OBJ_HWPT_PAGING) {
 *             struct iommufd_hwpt_paging *hwpt_paging = to_hwpt_paging(hwpt);
 *
 *             if (hwpt_paging->auto_domain) {
 *                     lockdep_assert_not_held(&hwpt_paging->ioas->mutex);
 *                     iommufd_object_put_and_try_destroy(ictx, &hwpt->obj);
 *                     return;
 *             }
 *     }
 *     refcount_dec(&hwpt->obj.users);
 *
 * The fault loses the inner auto_domain test (a "simplification" that
 * treats every paging HWPT as auto): a HWPT the user allocated with
 * IOMMU_HWPT_ALLOC (or got back from an earlier attach and now holds by
 * id) is destroyed as soon as the last device leaves it — by
 * VFIO_DEVICE_DETACH_IOMMUFD_PT, by an ATTACH that replaces it, by closing
 * the device file, or by destroying a selftest mock device.
 *
 * Consequence: an object userspace allocated and never destroyed vanishes
 * behind its back. Its id becomes free and is handed to the next object
 * allocated in the context, so the VMM's later IOMMU_DESTROY / attach /
 * IOMMU_HWPT_ALLOC(pt_id) of "its" HWPT either fails with ENOENT or acts on
 * an unrelated object (destroying someone else's IOAS, attaching a device
 * to the wrong address space).
 *
 * Applied as: the reference's own iommufd_hw_pagetable_put runs; when the
 * users count of a HWPT allocated by IOMMU_HWPT_ALLOC drops to the table's
 * own reference (the last attachment's put), the HWPT is removed from the
 * table and destroyed there and then, as iommufd_object_put_and_try_destroy
 * would.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import type { IommufdCtx, IommufdHwptPaging } from '../../../impl/iommufd/iommufd_private.ts';
import { iommufdObjectRemove } from '../../../impl/iommufd/object.ts';
import { mutantImplementation } from '../harness.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('hwpt-put-destroys-user-hwpt', profile, {
    object: (obj, ctx: IommufdCtx) => {
      if (obj.type !== 'HWPT_PAGING') return;
      const hwpt = obj as IommufdHwptPaging;
      // Only HWPTs made by IOMMU_HWPT_ALLOC: automatic ones are finalized with auto_domain set.
      if (hwpt.autoDomain) return;
      let users = hwpt.users;
      let destroying = false;
      Object.defineProperty(hwpt, 'users', {
        configurable: true,
        enumerable: true,
        get: () => users,
        set: (v: number) => {
          const prev = users;
          users = v;
          // THE FAULT: the last attachment's put goes through put_and_try_destroy.
          if (v === 1 && prev === 2 && !destroying && !ctx.file?.released && ctx.objects.load(hwpt.id) === hwpt) {
            destroying = true;
            try {
              const rc = iommufdObjectRemove(ctx, hwpt.id);
              if (rc) ctx.warnings.push(`iommufd_object_put_and_try_destroy: HWPT ${hwpt.id} (${rc})`);
            } finally {
              destroying = false;
            }
          }
        },
      });
    },
  });
}
