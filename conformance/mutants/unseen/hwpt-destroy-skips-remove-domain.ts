/**
 * RT42-C4 — hwpt-destroy-skips-remove-domain (drivers/iommu/iommufd/hw_pagetable.c
 * iommufd_hwpt_paging_destroy).
 *
 *     void iommufd_hwpt_paging_destroy(struct iommufd_object *obj)
 *     {
 *             struct iommufd_hwpt_paging *hwpt_paging = container_of(obj, ...);
 *
 *             if (!list_empty(&hwpt_paging->hwpt_item)) {
 *                     mutex_lock(&hwpt_paging->ioas->mutex);
 *                     list_del(&hwpt_paging->hwpt_item);
 *                     mutex_unlock(&hwpt_paging->ioas->mutex);
 *
 *                     iopt_table_remove_domain(&hwpt_paging->ioas->iopt,
 *                                              hwpt_paging->common.domain);
 *             }
 *             __iommufd_hwpt_destroy(&hwpt_paging->common);
 *             refcount_dec(&hwpt_paging->ioas->obj.users);
 *     }
 *
 * THE FAULT: the iopt_table_remove_domain() call is lost (it moved under the
 * mutex in a locking rework and fell out): the HWPT leaves the IOAS's list and
 * its domain is freed, but the IOAS still counts the domain as one of its
 * domains.
 *
 * What a user sees: after the HWPT is destroyed (IOMMU_DESTROY of a user HWPT,
 * or the last detach of an automatic one) the IOAS keeps the domain's
 * constraints — the aperture reservations stay, so IOMMU_IOAS_IOVA_RANGES is
 * still narrowed and maps there are refused; its IOVA alignment stays; later
 * maps and unmaps are written to the freed domain.
 *
 * Applied as: every HWPT_PAGING's destroy is the reference's minus that line.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import type { IommufdHwptPaging } from '../../../impl/iommufd/iommufd_private.ts';
import { refcount_dec } from '../../../impl/iommufd/object.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('hwpt-destroy-skips-remove-domain', profile, {
    object: (obj) => {
      if (obj.type !== 'HWPT_PAGING') return;
      const hwpt = obj as IommufdHwptPaging;
      patchOwn(hwpt, 'destroy', () => () => {
        if (hwpt.inList) {
          const l = hwpt.ioas.hwptList;
          l.splice(l.indexOf(hwpt), 1);
          hwpt.inList = false;
          // THE FAULT: iopt_table_remove_domain(&ioas->iopt, domain) is missing.
        }
        hwpt.domain?.free();
        if (hwpt.fault) refcount_dec(hwpt.fault);
        hwpt.fault = null;
        refcount_dec(hwpt.ioas);
      });
    },
  });
}
