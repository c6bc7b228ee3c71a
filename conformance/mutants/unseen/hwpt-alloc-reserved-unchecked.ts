/**
 * hwpt-alloc-reserved-unchecked (drivers/iommu/iommufd/hw_pagetable.c iommufd_hwpt_alloc).
 *
 * IOMMU_HWPT_ALLOC refuses a non-zero __reserved word before it looks at anything else:
 *     int iommufd_hwpt_alloc(struct iommufd_ucmd *ucmd)
 *     {
 *             struct iommu_hwpt_alloc *cmd = ucmd->cmd;
 *             ...
 *             if (cmd->__reserved)
 *                     return -EOPNOTSUPP;
 *             if ((cmd->data_type == IOMMU_HWPT_DATA_NONE && cmd->data_len) ||
 *                 (cmd->data_type != IOMMU_HWPT_DATA_NONE && !cmd->data_len))
 *                     return -EINVAL;
 * The fault drops the __reserved test (lost when the struct grew fault_id and
 * __reserved2): the word is ignored and the HWPT is allocated.
 *
 * What a user sees: IOMMU_HWPT_ALLOC with __reserved != 0 succeeds (a new HWPT
 * id) instead of EOPNOTSUPP, so the word can never be given a meaning later
 * (old kernels would silently accept a flag they do not implement).
 *
 * Applied as: the reference's own handler, run on a copy of the command whose
 * __reserved is zero. Both profiles.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation } from '../harness.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('hwpt-alloc-reserved-unchecked', profile, {
    handlers: {
      IOMMU_HWPT_ALLOC: (ucmd, original) => {
        // THE FAULT: `if (cmd->__reserved) return -EOPNOTSUPP;` is gone.
        if (ucmd.cmd.num('__reserved')) ucmd.cmd.set('__reserved', 0);
        return original(ucmd);
      },
    },
  });
}
