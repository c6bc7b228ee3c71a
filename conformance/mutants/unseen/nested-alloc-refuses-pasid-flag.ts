/**
 * nested-alloc-refuses-pasid-flag (drivers/iommu/iommufd/hw_pagetable.c
 * iommufd_hwpt_nested_alloc, 7.3 only).
 *
 * Since PASID attach (7.3), a nested HWPT may be allocated with
 * IOMMU_HWPT_ALLOC_PASID; the flag test comes before the parent checks:
 *
 *     if ((flags & ~(IOMMU_HWPT_FAULT_ID_VALID | IOMMU_HWPT_ALLOC_PASID)) ||
 *         !user_data->len || !ops->domain_alloc_nested)
 *             return ERR_PTR(-EOPNOTSUPP);
 *     if (parent->auto_domain || !parent->nest_parent ||
 *         parent->common.domain->owner != ops)
 *             return ERR_PTR(-EINVAL);
 *
 * The fault: the mask is the 6.12 one, `flags & ~IOMMU_HWPT_FAULT_ID_VALID`
 * (the PASID flag added to the paging path only), so every nested
 * allocation asking for PASID is EOPNOTSUPP.
 *
 * A user sees IOMMU_HWPT_ALLOC with pt_id = a HWPT_PAGING, data and
 * IOMMU_HWPT_ALLOC_PASID answer EOPNOTSUPP where 7.3 answers by the parent
 * (EINVAL for an automatic / non-NEST_PARENT / foreign parent): the parent
 * errors are hidden. 7.3 only; under 6.12 the adapter is the reference.
 *
 * Applied as: the IOMMU_HWPT_ALLOC handler answers EOPNOTSUPP when the
 * request would reach iommufd_hwpt_nested_alloc (reserved zero, data
 * type/len consistent, dev_id a device, pt_id a HWPT_PAGING) with the PASID
 * flag set; otherwise the reference's handler. Looks objects up without the
 * fail-nth step iommufd_get_object takes (the reference's handler takes them).
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { EOPNOTSUPP } from '../../../impl/lib/errno.ts';
import { IOMMU_HWPT_ALLOC_PASID, IOMMU_HWPT_DATA_NONE } from '../../../spec/uapi/constants.ts';
import { mutantImplementation } from '../harness.ts';

export function createAdapter(profile: Profile): Implementation {
  if (profile !== '7.3') return mutantImplementation('nested-alloc-refuses-pasid-flag', profile, {});
  return mutantImplementation('nested-alloc-refuses-pasid-flag', profile, {
    handlers: {
      IOMMU_HWPT_ALLOC: (ucmd, original) => {
        const { cmd, ctx } = ucmd;
        if (cmd.num('__reserved')) return original(ucmd);
        const dataType = cmd.num('data_type');
        const dataLen = cmd.num('data_len');
        if ((dataType === IOMMU_HWPT_DATA_NONE && dataLen) || (dataType !== IOMMU_HWPT_DATA_NONE && !dataLen)) return original(ucmd);
        const dev = ctx.objects.load(cmd.num('dev_id'));
        const pt = ctx.objects.load(cmd.num('pt_id'));
        if (!dev || dev.type !== 'DEVICE' || !pt || pt.type !== 'HWPT_PAGING') return original(ucmd);
        // THE FAULT: flags & ~IOMMU_HWPT_FAULT_ID_VALID (PASID not allowed for nested)
        if (cmd.num('flags') & IOMMU_HWPT_ALLOC_PASID) return -EOPNOTSUPP;
        return original(ucmd);
      },
    },
  });
}
