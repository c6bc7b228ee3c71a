/**
 * option-val64-copied-to-struct-start (drivers/iommu/iommufd/main.c
 * iommufd_option).
 *
 * IOMMU_OPTION answers through one field: after a successful GET (or SET)
 * the kernel copies val64 alone back into the user's struct, at its own
 * offset, leaving every other field of the argument as the user wrote it:
 *
 *         if (rc)
 *                 return rc;
 *         if (copy_to_user(&((struct iommu_option __user *)ucmd->ubuffer)->val64,
 *                          &cmd->val64, sizeof(cmd->val64)))
 *                 return -EFAULT;
 *         return 0;
 *
 * THE FAULT: the destination is the start of the user's struct,
 * copy_to_user(ucmd->ubuffer, &cmd->val64, sizeof(cmd->val64)) (the member
 * access lost when the cast was simplified to a u64_to_user_ptr()). The
 * eight bytes of val64 land on `size` and `option_id`, and `val64` itself is
 * never written.
 *
 * Consequence: every IOMMU_OPTION_OP_GET returns 0 with the user's val64
 * unchanged — a VMM asking IOMMU_OPTION_RLIMIT_MODE learns "user
 * accounting" (or whatever it left there) when the context charges
 * mm->locked_vm, and asking IOMMU_OPTION_HUGE_PAGES learns nothing of the
 * IOAS's setting — while its struct's header is overwritten: `size` and
 * `option_id` now hold the value, so reusing the struct for the next call
 * (the common pattern) sends a bogus size (EINVAL below the minimum, or an
 * E2BIG/over-read) or another option. A SET also clobbers the header with
 * the value it set.
 *
 * Applied as: IOMMU_OPTION through a copy of iommufd_option (with
 * iommufd_option_rlimit_mode; IOMMU_OPTION_HUGE_PAGES is the reference's
 * iommufd_ioas_option) whose copy-back targets offset 0.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation } from '../harness.ts';
import { EFAULT, EOPNOTSUPP } from '../../../impl/lib/errno.ts';
import { IOMMU_OPTION_HUGE_PAGES, IOMMU_OPTION_RLIMIT_MODE } from '../../../spec/uapi/constants.ts';
import { iommufdIoasOption } from '../../../impl/iommufd/ioas.ts';
import { rlimitModeWith } from './_rlimit_mode.ts';
import type { Ucmd } from '../../../impl/iommufd/iommufd_private.ts';

/** iommufd_option_rlimit_mode (the reference's). */
const optionRlimitMode = rlimitModeWith();

/** iommufd_option with THE FAULT in its copy-back. */
function option(ucmd: Ucmd): number {
  const { cmd } = ucmd;
  if (cmd.num('__reserved')) return -EOPNOTSUPP;
  let rc: number;
  switch (cmd.num('option_id')) {
    case IOMMU_OPTION_RLIMIT_MODE:
      rc = optionRlimitMode(ucmd);
      break;
    case IOMMU_OPTION_HUGE_PAGES:
      rc = iommufdIoasOption(ucmd);
      break;
    default:
      return -EOPNOTSUPP;
  }
  if (rc) return rc;
  // THE FAULT: copy_to_user(ucmd->ubuffer, &cmd->val64, sizeof(cmd->val64)) — offsetof(val64) lost.
  return ucmd.ctx.proc.copyToUser(ucmd.ubuffer, cmd.fieldBytes('val64')) ? 0 : -EFAULT;
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('option-val64-copied-to-struct-start', profile, {
    handlers: { IOMMU_OPTION: (ucmd) => option(ucmd) },
  });
}
