/**
 * hwpt-alloc-pt-lookup-errno (drivers/iommu/iommufd/hw_pagetable.c
 * iommufd_hwpt_alloc).
 *
 * IOMMU_HWPT_ALLOC maps a pt_id that names no object to EINVAL, not to the
 * lookup's ENOENT:
 *
 *     pt_obj = iommufd_get_object(ucmd->ictx, cmd->pt_id, IOMMUFD_OBJ_ANY);
 *     if (IS_ERR(pt_obj)) {
 *             rc = -EINVAL;
 *             goto out_put_idev;
 *     }
 *
 * The fault: `rc = PTR_ERR(pt_obj);` — the lookup's errno passes through.
 *
 * A user sees IOMMU_HWPT_ALLOC with a valid dev_id and an unknown (or
 * destroyed, or still-unfinalized) pt_id fail with ENOENT instead of EINVAL,
 * an ABI change for callers that tell a bad parent (EINVAL) from a bad device
 * (ENOENT). Both profiles.
 *
 * Applied as: the IOMMU_HWPT_ALLOC handler answers ENOENT when the request
 * passes the reserved/data checks and names an existing device but its pt_id
 * names nothing; otherwise the reference's handler. Looks objects up without
 * the fail-nth step iommufd_get_object takes.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { ENOENT } from '../../../impl/lib/errno.ts';
import { IOMMU_HWPT_DATA_NONE } from '../../../spec/uapi/constants.ts';
import { mutantImplementation } from '../harness.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('hwpt-alloc-pt-lookup-errno', profile, {
    handlers: {
      IOMMU_HWPT_ALLOC: (ucmd, original) => {
        const { cmd, ctx } = ucmd;
        if (cmd.num('__reserved')) return original(ucmd);
        const dataType = cmd.num('data_type');
        const dataLen = cmd.num('data_len');
        if ((dataType === IOMMU_HWPT_DATA_NONE && dataLen) || (dataType !== IOMMU_HWPT_DATA_NONE && !dataLen)) return original(ucmd);
        const dev = ctx.objects.load(cmd.num('dev_id'));
        if (!dev || dev.type !== 'DEVICE') return original(ucmd);
        // THE FAULT: rc = PTR_ERR(pt_obj) instead of -EINVAL
        if (!ctx.objects.load(cmd.num('pt_id'))) return -ENOENT;
        return original(ucmd);
      },
    },
  });
}
