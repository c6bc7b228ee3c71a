/**
 * hwpt-destroy-keeps-ioas-ref (drivers/iommu/iommufd/hw_pagetable.c
 * iommufd_hwpt_paging_destroy).
 *
 * A paging HWPT holds a users reference on its IOAS from
 * iommufd_hwpt_paging_alloc (refcount_inc(&ioas->obj.users)) until it is
 * destroyed:
 *     void iommufd_hwpt_paging_destroy(struct iommufd_object *obj)
 *     {
 *             ...
 *             if (!list_empty(&hwpt_paging->hwpt_item)) {
 *                     list_del(&hwpt_paging->hwpt_item);
 *                     iopt_table_remove_domain(&hwpt_paging->ioas->iopt,
 *                                              hwpt_paging->common.domain);
 *             }
 *             __iommufd_hwpt_destroy(&hwpt_paging->common);
 *             refcount_dec(&hwpt_paging->ioas->obj.users);
 *     }
 * The fault loses the final refcount_dec (the kind of line that goes missing
 * when the common part is split out into __iommufd_hwpt_destroy): the domain
 * leaves the IOAS and is freed, but the IOAS keeps the reference.
 *
 * Consequence for a user: every HWPT ever destroyed on an IOAS — a user HWPT
 * through IOMMU_DESTROY, or an automatic one when its last device detaches —
 * pins the IOAS forever. IOMMU_DESTROY of the IOAS fails with EBUSY although
 * nothing uses it any more; closing the iommufd cannot free it either
 * (iommufd_fops_release WARNs and leaks the IOAS with all its areas, their
 * iopt_pages and the mm references they hold).
 *
 * Applied as: the destroy op of every finalized HWPT_PAGING object is the
 * reference's iommufd_hwpt_paging_destroy without the refcount_dec. The
 * abort path (a HWPT never finalized) keeps the reference's.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import type { IommufdHwptPaging } from '../../../impl/iommufd/iommufd_private.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';
import { hwptPagingDestroy } from './_hwpt_destroy.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('hwpt-destroy-keeps-ioas-ref', profile, {
    object: (obj) => {
      if (obj?.type !== 'HWPT_PAGING') return;
      const hwpt = obj as IommufdHwptPaging;
      // THE FAULT: the teardown ends without refcount_dec(&hwpt_paging->ioas->obj.users).
      patchOwn(hwpt, 'destroy', () => () => hwptPagingDestroy(hwpt, { putIoas: false }));
    },
  });
}
