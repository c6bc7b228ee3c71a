/**
 * option-set-skips-val64-copyback (iommufd_option,
 * drivers/iommu/iommufd/main.c; reached by IOMMU_OPTION with
 * IOMMU_OPTION_OP_SET whose argument userspace cannot write; 6.12 and 7.3).
 *
 * The kernel's code (6.12 and 7.3 alike):
 *
 *     switch (cmd->option_id) {
 *     case IOMMU_OPTION_RLIMIT_MODE:
 *             rc = iommufd_option_rlimit_mode(cmd, ucmd->ictx);
 *             break;
 *     case IOMMU_OPTION_HUGE_PAGES:
 *             rc = iommufd_ioas_option(ucmd);
 *             break;
 *     default:
 *             return -EOPNOTSUPP;
 *     }
 *     if (rc)
 *             return rc;
 *     if (copy_to_user(&((struct iommu_option __user *)ucmd->ubuffer)->val64,
 *                      &cmd->val64, sizeof(cmd->val64)))
 *             return -EFAULT;
 *     return 0;
 *
 * Every successful option, GET or SET, writes val64 back to the caller's
 * struct; when that write faults the ioctl answers EFAULT.
 *
 * The fault: a "SET has nothing to report" optimisation makes the copy-back
 * GET-only:
 *
 *     if (rc)
 *             return rc;
 *     if (cmd->op == IOMMU_OPTION_OP_GET &&
 *         copy_to_user(&((struct iommu_option __user *)ucmd->ubuffer)->val64,
 *                      &cmd->val64, sizeof(cmd->val64)))
 *             return -EFAULT;
 *     return 0;
 *
 * Observable: a successful OP_SET (RLIMIT_MODE or HUGE_PAGES) whose
 * argument sits in memory the process can read but not write answers 0
 * where the kernel answers EFAULT. GETs, failing SETs and writable
 * arguments are unchanged (the SET's val64 is written back unchanged, so
 * the caller's memory is the same either way).
 *
 * Applied as: IOMMU_OPTION runs a copy of iommufd_option over the
 * reference's iommufd_option_rlimit_mode and iommufd_ioas_option, with the
 * GET-only copy-back.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { EFAULT, EOPNOTSUPP } from '../../../impl/lib/errno.ts';
import { IOMMU_OPTION_HUGE_PAGES, IOMMU_OPTION_OP_GET, IOMMU_OPTION_RLIMIT_MODE } from '../../../spec/uapi/constants.ts';
import type { Ucmd } from '../../../impl/iommufd/iommufd_private.ts';
import { iommufdIoasOption } from '../../../impl/iommufd/ioas.ts';
import { mutantImplementation } from '../harness.ts';
import { rlimitModeWith } from './_rlimit_mode.ts';

const rlimitMode = rlimitModeWith();

/** iommufd_option with THE FAULT: val64 is copied back only for OP_GET. */
function option(ucmd: Ucmd): number {
  const { cmd, ctx } = ucmd;
  if (cmd.num('__reserved')) return -EOPNOTSUPP;
  let rc: number;
  switch (cmd.num('option_id')) {
    case IOMMU_OPTION_RLIMIT_MODE:
      rc = rlimitMode(ucmd);
      break;
    case IOMMU_OPTION_HUGE_PAGES:
      rc = iommufdIoasOption(ucmd);
      break;
    default:
      return -EOPNOTSUPP;
  }
  if (rc) return rc;
  if (cmd.num('op') === IOMMU_OPTION_OP_GET && !ctx.proc.copyToUser(ucmd.ubuffer + BigInt(cmd.offsetOf('val64')), cmd.fieldBytes('val64'))) return -EFAULT;
  return 0;
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('option-set-skips-val64-copyback', profile, {
    handlers: { IOMMU_OPTION: (ucmd) => option(ucmd) },
  });
}
