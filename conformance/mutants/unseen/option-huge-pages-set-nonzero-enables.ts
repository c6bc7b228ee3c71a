/**
 * option-huge-pages-set-nonzero-enables (iommufd_ioas_option_huge_pages,
 * drivers/iommu/iommufd/ioas.c; reached by IOMMU_OPTION with option_id
 * IOMMU_OPTION_HUGE_PAGES, op IOMMU_OPTION_OP_SET and a val64 other than 0
 * or 1; 6.12 and 7.3).
 *
 * The kernel's code:
 *
 *     if (cmd->op == IOMMU_OPTION_OP_SET) {
 *             if (cmd->val64 == 0)
 *                     return iopt_disable_large_pages(&ioas->iopt);
 *             if (cmd->val64 == 1) {
 *                     iopt_enable_large_pages(&ioas->iopt);
 *                     return 0;
 *             }
 *             return -EINVAL;
 *     }
 *
 * The fault: val64 is treated as a boolean ("if (cmd->val64 == 0) disable;
 * else enable"), as it is read back by OP_GET (!disable_large_pages), so the
 * `return -EINVAL` for out-of-range values is lost. An OP_SET with val64 2
 * (or any value > 1) answers 0 instead of EINVAL and re-enables large pages
 * on the IOAS: a later OP_GET reports 1 where the kernel (which refused the
 * SET) still reports 0, and the IOAS's iova alignment drops back. val64 is
 * copied back unchanged by iommufd_option, as the kernel would on success.
 *
 * Applied as: the reference's IOMMU_OPTION with val64 replaced by 1 for the
 * duration of the call, the caller's val64 restored in the copy-back.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { EFAULT } from '../../../impl/lib/errno.ts';
import { IOMMU_OPTION_HUGE_PAGES, IOMMU_OPTION_OP_SET } from '../../../spec/uapi/constants.ts';
import { mutantImplementation } from '../harness.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('option-huge-pages-set-nonzero-enables', profile, {
    handlers: {
      IOMMU_OPTION: (ucmd, original) => {
        const { cmd, ctx } = ucmd;
        const val = cmd.big('val64');
        if (cmd.num('option_id') !== IOMMU_OPTION_HUGE_PAGES || cmd.num('op') !== IOMMU_OPTION_OP_SET || val <= 1n) return original(ucmd);
        // THE FAULT: any non-zero val64 enables large pages.
        cmd.set('val64', 1n);
        const rc = original(ucmd);
        cmd.set('val64', val);
        if (rc) return rc;
        return ctx.proc.copyToUser(ucmd.ubuffer + BigInt(cmd.offsetOf('val64')), cmd.fieldBytes('val64')) ? 0 : -EFAULT;
      },
    },
  });
}
