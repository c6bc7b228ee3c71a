/**
 * rlimit-mode-get-needs-capable (iommufd_option_rlimit_mode,
 * drivers/iommu/iommufd/ioas.c in 6.12, main.c in 7.3; reached by
 * IOMMU_OPTION RLIMIT_MODE from a process without CAP_SYS_RESOURCE, for an
 * OP_GET or an unknown op; 6.12 and 7.3).
 *
 * The kernel's code (6.12 and 7.3 alike):
 *
 *     if (cmd->object_id)
 *             return -EOPNOTSUPP;
 *
 *     if (cmd->op == IOMMU_OPTION_OP_GET) {
 *             cmd->val64 = ictx->account_mode == IOPT_PAGES_ACCOUNT_MM;
 *             return 0;
 *     }
 *     if (cmd->op == IOMMU_OPTION_OP_SET) {
 *             int rc = 0;
 *
 *             if (!capable(CAP_SYS_RESOURCE))
 *                     return -EPERM;
 *             ...
 *     }
 *     return -EOPNOTSUPP;
 *
 * Only changing the accounting mode is privileged; reading it is not.
 *
 * The fault: the capability test is hoisted to the top of the function,
 * next to the object_id test (the way IOMMU_OPTION handlers of other
 * subsystems gate the whole option), so it guards every op:
 *
 *     if (cmd->object_id)
 *             return -EOPNOTSUPP;
 *     if (!capable(CAP_SYS_RESOURCE))
 *             return -EPERM;
 *
 * Observable: without CAP_SYS_RESOURCE, OP_GET answers EPERM instead of
 * val64 = 0/1 (an unprivileged VMM cannot learn how its pins are charged),
 * and an unknown op answers EPERM instead of EOPNOTSUPP. With the
 * capability nothing changes.
 *
 * Applied as: IOMMU_OPTION's RLIMIT_MODE runs a copy of
 * iommufd_option_rlimit_mode with the hoisted test, inside _rlimit_mode.ts's
 * iommufd_option; every other option is the reference's.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { EBUSY, EINVAL, EOPNOTSUPP, EPERM } from '../../../impl/lib/errno.ts';
import { IOMMU_OPTION_OP_GET, IOMMU_OPTION_OP_SET } from '../../../spec/uapi/constants.ts';
import type { Ucmd } from '../../../impl/iommufd/iommufd_private.ts';
import { rlimitOptionHandler } from './_rlimit_mode.ts';
import { mutantImplementation } from '../harness.ts';

/** iommufd_option_rlimit_mode with THE FAULT: CAP_SYS_RESOURCE is required before the op is looked at. */
function rlimitMode(ucmd: Ucmd): number {
  const { cmd, ctx } = ucmd;
  if (cmd.num('object_id')) return -EOPNOTSUPP;
  if (!ctx.proc.capable('CAP_SYS_RESOURCE')) return -EPERM; // THE FAULT: the kernel tests it for OP_SET only
  const opv = cmd.num('op');
  if (opv === IOMMU_OPTION_OP_GET) {
    cmd.set('val64', ctx.accountMode === 'MM' ? 1n : 0n);
    return 0;
  }
  if (opv === IOMMU_OPTION_OP_SET) {
    if (!ctx.objects.empty) return -EBUSY;
    const val = cmd.big('val64');
    if (val === 0n) ctx.accountMode = 'USER';
    else if (val === 1n) ctx.accountMode = 'MM';
    else return -EINVAL;
    return 0;
  }
  return -EOPNOTSUPP;
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('rlimit-mode-get-needs-capable', profile, {
    handlers: { IOMMU_OPTION: rlimitOptionHandler(rlimitMode) },
  });
}
