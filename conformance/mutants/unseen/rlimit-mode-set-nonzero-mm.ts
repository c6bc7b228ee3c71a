/**
 * rlimit-mode-set-nonzero-mm
 *
 * Kernel: iommufd_option_rlimit_mode (drivers/iommu/iommufd/ioas.c in 6.12,
 * main.c in 7.3). The correct SET:
 *
 *     if (cmd->val64 == 0)
 *             ucmd->ictx->account_mode = IOPT_PAGES_ACCOUNT_USER;
 *     else if (cmd->val64 == 1)
 *             ucmd->ictx->account_mode = IOPT_PAGES_ACCOUNT_MM;
 *     else
 *             rc = -EINVAL;
 *
 * The fault treats val64 as a boolean (`else ictx->account_mode = MM`): a
 * "simplification" that drops the EINVAL branch, as if the option were a
 * bool. SET with val64 = 2 (or any other nonzero value) succeeds and switches
 * the context to mm->locked_vm accounting instead of failing with EINVAL and
 * leaving the mode as it was; a later GET reads 1 and later maps charge
 * locked_vm instead of the user's locked_vm.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation } from '../harness.ts';
import { rlimitModeWith, rlimitOptionHandler } from './_rlimit_mode.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('rlimit-mode-set-nonzero-mm', profile, {
    handlers: {
      IOMMU_OPTION: rlimitOptionHandler(
        rlimitModeWith({
          setMode: (ctx, val) => {
            if (val === 0n) ctx.accountMode = 'USER';
            else ctx.accountMode = 'MM';
            return 0;
          },
        }),
      ),
    },
  });
}
