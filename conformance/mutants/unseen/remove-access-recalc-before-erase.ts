/**
 * remove-access-recalc-before-erase (drivers/iommu/iommufd/io_pagetable.c,
 * iopt_remove_access; called by device.c iommufd_access_change_ioas when an
 * access leaves an IOAS: IOMMU_TEST_OP_ACCESS_REPLACE_IOAS / vfio
 * iommufd_access_replace moving it to another IOAS, and
 * iommufd_access_destroy_object when the driver closes it).
 *
 * The kernel takes the access out of the IOAS's access_list and then
 * recomputes the IOVA alignment the IOAS requires from what is left
 * (large-page setting, each domain's smallest page, each access's
 * iova_alignment -- PAGE_SIZE for an access that pins pages):
 *
 *     down_write(&iopt->domains_rwsem);
 *     down_write(&iopt->iova_rwsem);
 *     WARN_ON(xa_erase(&iopt->access_list, iopt_access_list_id) != access);
 *     WARN_ON(iopt_calculate_iova_alignment(iopt));
 *     up_write(&iopt->iova_rwsem);
 *     up_write(&iopt->domains_rwsem);
 *
 * THE FAULT swaps the two WARN_ON lines (the recalculation "validates the
 * table before it changes", as iopt_add_access's error path reads): the
 * alignment is recomputed while the departing access is still on the list,
 * so it comes out as before, and the erase that follows leaves it stale. An
 * IOAS that a pinning access has left keeps demanding PAGE_SIZE alignment
 * although nothing on it needs more than byte alignment any longer -- until
 * something else (a domain attached or detached, IOMMU_OPTION HUGE_PAGES,
 * another access joining) happens to recalculate it.
 *
 * Observable later, on the IOAS the access left: IOMMU_IOAS_IOVA_RANGES
 * reports out_iova_alignment 4096 where the kernel reports 1 (or the mock
 * domain's 2 KiB), IOMMU_IOAS_MAP / IOMMU_IOAS_COPY at a fixed IOVA or of a
 * length that is not page aligned are refused with EINVAL, and automatic
 * IOVAs are placed on page boundaries.
 *
 * Applied as: a copy of iommufd_access_change_ioas (device.c) whose
 * iopt_remove_access only erases the list slot, behind
 * IOMMU_TEST_OP_ACCESS_REPLACE_IOAS and the access object's destroy
 * (iommufd_access_destroy_object: change_ioas(NULL), then iommufd_ctx_put).
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import type { IoPagetable } from '../../../impl/iommufd/iommufd_private.ts';
import type { IommufdAccess } from '../../../impl/iommufd/access.ts';
import { mutantImplementation } from '../harness.ts';
import { accessReplaceIoasWith, changeIoasWith, patchAccessDestroy } from './_access_change.ts';

/** iopt_remove_access with THE FAULT: the alignment was recalculated (unchanged) before the erase. */
function ioptRemoveAccessStale(iopt: IoPagetable, listId: number): void {
  // WARN_ON(iopt_calculate_iova_alignment(iopt)): the access is still listed, nothing changes.
  iopt.accessList.delete(listId); // WARN_ON(xa_erase(&iopt->access_list, iopt_access_list_id) != access)
}

/** iommufd_access_change_ioas over the faulty iopt_remove_access. */
const changeIoas = changeIoasWith({ removeAccess: ioptRemoveAccessStale });

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('remove-access-recalc-before-erase', profile, {
    handlers: { IOMMU_TEST_CMD: accessReplaceIoasWith(changeIoas) },
    object: (obj) => {
      if (obj.type === 'ACCESS') patchAccessDestroy(obj as IommufdAccess, changeIoas);
    },
  });
}
