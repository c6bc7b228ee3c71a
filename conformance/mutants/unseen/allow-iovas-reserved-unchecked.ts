/**
 * allow-iovas-reserved-unchecked (drivers/iommu/iommufd/ioas.c
 * iommufd_ioas_allow_iovas; 6.12 and 7.3 alike).
 *
 * struct iommu_ioas_allow_iovas has a __reserved u32 that must be zero so
 * it can carry a meaning later; the kernel refuses anything else first:
 *
 *     int iommufd_ioas_allow_iovas(struct iommufd_ucmd *ucmd)
 *     {
 *             struct iommu_ioas_allow_iovas *cmd = ucmd->cmd;
 *             ...
 *             if (cmd->__reserved)
 *                     return -EOPNOTSUPP;
 *
 * THE FAULT: the __reserved test is lost (a refactor that moved the body
 * into a helper kept only the IOAS lookup). A call with a nonzero
 * __reserved is served: the allowed list is replaced (or EADDRINUSE/EINVAL/
 * ENOENT from the later checks) where the kernel answers -EOPNOTSUPP and
 * changes nothing; later automatic IOVAs then land in the new ranges and
 * IOVA_RANGES is unchanged either way.
 *
 * Applied as: IOMMU_IOAS_ALLOW_IOVAS with __reserved != 0 runs the
 * reference's handler over the same struct with __reserved read as zero.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation } from '../harness.ts';
import type { IoctlExecute, Ucmd } from '../../../impl/iommufd/iommufd_private.ts';

function allowIovas(ucmd: Ucmd, original: IoctlExecute): number {
  // THE FAULT: `if (cmd->__reserved) return -EOPNOTSUPP;` is gone.
  if (ucmd.cmd.num('__reserved')) ucmd.cmd.set('__reserved', 0);
  return original(ucmd);
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('allow-iovas-reserved-unchecked', profile, { handlers: { IOMMU_IOAS_ALLOW_IOVAS: allowIovas } });
}
