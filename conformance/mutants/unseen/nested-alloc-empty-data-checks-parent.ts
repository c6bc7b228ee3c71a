/**
 * nested-alloc-empty-data-checks-parent — drivers/iommu/iommufd/hw_pagetable.c,
 * iommufd_hwpt_nested_alloc().
 *
 * IOMMU_HWPT_ALLOC with pt_id = a HWPT_PAGING asks for a nested HWPT, which
 * needs driver data (the stage-1 table description). Correct code (7.3; 6.12
 * tests `flags & ~IOMMU_HWPT_FAULT_ID_VALID || !user_data->len ||
 * !ops->domain_alloc_user` the same way):
 *
 *   if ((flags & ~(IOMMU_HWPT_FAULT_ID_VALID | IOMMU_HWPT_ALLOC_PASID)) ||
 *       !user_data->len || !ops->domain_alloc_nested)
 *           return ERR_PTR(-EOPNOTSUPP);
 *   if (parent->auto_domain || !parent->nest_parent ||
 *       parent->common.domain->owner != ops)
 *           return ERR_PTR(-EINVAL);
 *
 * The fault: the `!user_data->len` term is lost (moved, in a refactor, into
 * the driver's domain_alloc_nested, which is only reached later). A request
 * without data (data_type IOMMU_HWPT_DATA_NONE, data_len 0) on a paging HWPT
 * then reaches the parent checks.
 *
 * What a user sees: IOMMU_HWPT_ALLOC(pt_id = a HWPT_PAGING that is not a
 * nesting parent, an auto domain, or another driver's; no data) answers
 * EINVAL instead of EOPNOTSUPP — the errno that tells userspace "nesting
 * needs driver data" becomes "bad parent". With a good parent the answer is
 * EOPNOTSUPP either way (the driver step).
 *
 * Applied as: around IOMMU_HWPT_ALLOC, when the reference would take that
 * branch (reserved 0, no data, dev_id a device, pt_id a HWPT_PAGING, flags
 * the nested path accepts, a driver with a nested allocator) and the parent is
 * bad, the reference's own lookups run (same fail-nth steps) and EINVAL is
 * answered. Both profiles.
 */
import { EINVAL } from '../../../impl/lib/errno.ts';
import { IOMMU_HWPT_ALLOC_PASID, IOMMU_HWPT_DATA_NONE, IOMMU_HWPT_FAULT_ID_VALID } from '../../../spec/uapi/constants.ts';
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { iommufdGetObject } from '../../../impl/iommufd/object.ts';
import { iommufdGetDevice, type IommufdDevice, type IommufdHwptPaging } from '../../../impl/iommufd/iommufd_private.ts';
import { mutantImplementation } from '../harness.ts';

/** As hw_pagetable.ts driverAllocatesNested: ops->domain_alloc_nested (7.3) / domain_alloc_user (6.12). */
function driverAllocatesNested(idev: IommufdDevice): boolean {
  const driver = idev.dev.iommu.driver.name;
  return idev.ictx.profile === '6.12' || driver === 'intel' || driver === 'mock';
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('nested-alloc-empty-data-checks-parent', profile, {
    handlers: {
      IOMMU_HWPT_ALLOC: (ucmd, original) => {
        const { cmd, ctx } = ucmd;
        if (cmd.num('__reserved') || cmd.num('data_type') !== IOMMU_HWPT_DATA_NONE || cmd.num('data_len')) return original(ucmd);
        const dev = ctx.objects.load(cmd.num('dev_id'));
        const pt = ctx.objects.load(cmd.num('pt_id'));
        if (!dev || dev.type !== 'DEVICE' || !pt || pt.type !== 'HWPT_PAGING') return original(ucmd);
        const idev = dev as IommufdDevice;
        const parent = pt as IommufdHwptPaging;
        const flags = cmd.num('flags');
        const valid = ctx.profile === '6.12' ? IOMMU_HWPT_FAULT_ID_VALID : IOMMU_HWPT_FAULT_ID_VALID | IOMMU_HWPT_ALLOC_PASID;
        if (flags & ~valid || !driverAllocatesNested(idev)) return original(ucmd);
        const bad = parent.autoDomain || !parent.nestParent || parent.domain?.owner !== idev.dev.iommu.driver;
        if (!bad) return original(ucmd);
        // The reference's lookups (fallible steps) as iommufd_hwpt_alloc makes them.
        const r = iommufdGetDevice(ctx, cmd.num('dev_id'));
        if (r.errno || !r.value) return r.errno;
        const p = iommufdGetObject(ctx, cmd.num('pt_id'), 'ANY');
        if (p.errno || !p.value) return -EINVAL;
        // THE FAULT: no `!user_data->len` test: the parent checks answer.
        return -EINVAL;
      },
    },
  });
}
