/**
 * rlimit-mode-einval-keeps-mode (iommufd_option_rlimit_mode: 6.12
 * drivers/iommu/iommufd/ioas.c, 7.3 main.c; reached by IOMMU_OPTION
 * IOMMU_OPTION_RLIMIT_MODE OP_SET; 6.12 and 7.3).
 *
 * The kernel's code (6.12, ioas.c):
 *
 *     if (cmd->op == IOMMU_OPTION_OP_SET) {
 *             int rc = 0;
 *
 *             if (!capable(CAP_SYS_RESOURCE))
 *                     return -EPERM;
 *
 *             xa_lock(&ictx->objects);
 *             if (!xa_empty(&ictx->objects)) {
 *                     rc = -EBUSY;
 *             } else {
 *                     if (cmd->val64 == 0)
 *                             ictx->account_mode = IOPT_PAGES_ACCOUNT_USER;
 *                     else if (cmd->val64 == 1)
 *                             ictx->account_mode = IOPT_PAGES_ACCOUNT_MM;
 *                     else
 *                             rc = -EINVAL;
 *             }
 *             xa_unlock(&ictx->objects);
 *
 *             return rc;
 *     }
 *
 * A SET with any value other than 0 or 1 fails with EINVAL and leaves the
 * context's accounting mode as it was.
 *
 * The fault: the if/else ladder is "simplified" into a boolean conversion
 * with the range check after it,
 *
 *             } else {
 *                     ictx->account_mode = cmd->val64 ?
 *                             IOPT_PAGES_ACCOUNT_MM : IOPT_PAGES_ACCOUNT_USER;
 *                     if (cmd->val64 > 1)
 *                             rc = -EINVAL;
 *             }
 *
 * so the refused SET still switches the context to MM accounting (the
 * /dev/vfio/vfio model). The answer to that SET is the kernel's (EINVAL);
 * the context is left changed, and every later command shows it: OP_GET
 * reports 1 where the kernel reports 0, and every IOAS the context then
 * creates charges its pins to the process's mm->locked_vm
 * (__account_locked_vm: process_info's lockedVmPages grows, and
 * RLIMIT_MEMLOCK is checked against the mm's count) instead of the user's
 * locked_vm (incr_user_locked_vm), as a /dev/iommu context that never
 * accepted a mode change must.
 *
 * Applied as: IOMMU_OPTION RLIMIT_MODE runs a copy of iommufd_option →
 * iommufd_option_rlimit_mode with the faulty SET; every other IOMMU_OPTION
 * is the reference's.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { EINVAL } from '../../../impl/lib/errno.ts';
import type { IommufdCtx } from '../../../impl/iommufd/iommufd_private.ts';
import { mutantImplementation } from '../harness.ts';
import { rlimitModeWith, rlimitOptionHandler } from './_rlimit_mode.ts';

/** The SET of iommufd_option_rlimit_mode with THE FAULT: the mode is converted from val64 before the range check. */
function setModeFirst(ctx: IommufdCtx, val: bigint): number {
  ctx.accountMode = val ? 'MM' : 'USER';
  if (val > 1n) return -EINVAL;
  return 0;
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('rlimit-mode-einval-keeps-mode', profile, {
    handlers: { IOMMU_OPTION: rlimitOptionHandler(rlimitModeWith({ setMode: setModeFirst })) },
  });
}
