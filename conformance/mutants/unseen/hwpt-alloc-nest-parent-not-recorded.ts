/**
 * R40-C1 — hwpt-alloc-nest-parent-not-recorded (drivers/iommu/iommufd/hw_pagetable.c,
 * iommufd_hwpt_paging_alloc; 6.12 and 7.3).
 *
 * A paging HWPT allocated with IOMMU_HWPT_ALLOC_NEST_PARENT remembers it, so
 * that a later IOMMU_HWPT_ALLOC with pt_id = that HWPT may build a nested
 * (stage-1) HWPT on it:
 *
 *     hwpt_paging->ioas = ioas;
 *     hwpt_paging->nest_parent = flags & IOMMU_HWPT_ALLOC_NEST_PARENT;
 *     ...
 *     // iommufd_hwpt_nested_alloc
 *     if (parent->auto_domain || !parent->nest_parent ||
 *         parent->common.domain->owner != ops)
 *             return ERR_PTR(-EINVAL);
 *
 * THE FAULT: the `hwpt_paging->nest_parent = ...` line is lost (as in a
 * rework that passes the flag to the driver's domain_alloc_paging_flags and
 * thinks the driver's domain now carries it): the HWPT object is kzalloc'ed, so
 * nest_parent stays false. The driver did allocate a nesting-capable parent
 * domain (the flag reached it), the ALLOC answers success, but every nested
 * allocation on it is refused with EINVAL, "not a nest parent", instead of
 * reaching the driver (which the reference, having no nested domains yet,
 * answers EOPNOTSUPP). A VMM cannot set up nested translation at all.
 *
 * Applied as: after the reference's IOMMU_HWPT_ALLOC succeeds with the
 * NEST_PARENT flag, the new HWPT's `nestParent` is false.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { IOMMU_HWPT_ALLOC_NEST_PARENT } from '../../../spec/uapi/constants.ts';
import type { IommufdHwptPaging } from '../../../impl/iommufd/iommufd_private.ts';
import { mutantImplementation } from '../harness.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('hwpt-alloc-nest-parent-not-recorded', profile, {
    handlers: {
      IOMMU_HWPT_ALLOC: (ucmd, original) => {
        const rc = original(ucmd);
        if (rc || !(ucmd.cmd.num('flags') & IOMMU_HWPT_ALLOC_NEST_PARENT)) return rc;
        const obj = ucmd.ctx.objects.load(ucmd.cmd.num('out_hwpt_id'));
        // THE FAULT: hwpt_paging->nest_parent is never set.
        if (obj && obj.type === 'HWPT_PAGING') (obj as IommufdHwptPaging).nestParent = false;
        return rc;
      },
    },
  });
}
