/**
 * R40-C4 — vfio-ioas-reserved-unchecked (drivers/iommu/iommufd/vfio_compat.c,
 * iommufd_vfio_ioas; 6.12 and 7.3).
 *
 * IOMMU_VFIO_IOAS (struct iommu_vfio_ioas { size, ioas_id, op, __reserved })
 * refuses a non-zero reserved field before it looks at the op, so that the
 * field can be given a meaning later:
 *
 *     int iommufd_vfio_ioas(struct iommufd_ucmd *ucmd)
 *     {
 *             struct iommu_vfio_ioas *cmd = ucmd->cmd;
 *             struct iommufd_ioas *ioas;
 *
 *             if (cmd->__reserved)
 *                     return -EOPNOTSUPP;
 *             switch (cmd->op) {
 *
 * THE FAULT: the `__reserved` test is missing. GET / SET / CLEAR with garbage
 * in __reserved succeed (SET even changes the compat IOAS), and an old
 * userspace that leaves the field uninitialised will break the day the kernel
 * gives it a meaning.
 *
 * Applied as: the reference's handler runs on a copy of the command whose
 * __reserved reads as zero.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('vfio-ioas-reserved-unchecked', profile, {
    handlers: {
      IOMMU_VFIO_IOAS: (ucmd, original) => {
        // THE FAULT: `if (cmd->__reserved) return -EOPNOTSUPP;` is gone.
        patchOwn(ucmd.cmd, 'num', (num) => (name: string) => (name === '__reserved' ? 0 : num(name)));
        return original(ucmd);
      },
    },
  });
}
