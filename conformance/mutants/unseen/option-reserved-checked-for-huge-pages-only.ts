/**
 * option-reserved-checked-for-huge-pages-only (drivers/iommu/iommufd/main.c
 * iommufd_option, IOMMU_OPTION; 6.12 and 7.3).
 *
 * struct iommu_option has a u16 __reserved that must be zero. The kernel
 * tests it twice: once in the common entry, for every option, and again in
 * the per-IOAS handler:
 *
 *         static int iommufd_option(struct iommufd_ucmd *ucmd)
 *         {
 *                 struct iommu_option *cmd = ucmd->cmd;
 *                 int rc;
 *
 *                 if (cmd->__reserved)
 *                         return -EOPNOTSUPP;
 *
 *                 switch (cmd->option_id) {
 *                 case IOMMU_OPTION_RLIMIT_MODE:
 *                         rc = iommufd_option_rlimit_mode(cmd, ucmd->ictx);
 *                         break;
 *                 case IOMMU_OPTION_HUGE_PAGES:
 *                         rc = iommufd_ioas_option(ucmd);
 *                         break;
 *                 ...
 *
 *         int iommufd_ioas_option(struct iommufd_ucmd *ucmd)   (ioas.c)
 *         {
 *                 ...
 *                 if (cmd->__reserved)
 *                         return -EOPNOTSUPP;
 *
 * THE FAULT drops the test in iommufd_option (it looks like a duplicate of
 * the one in iommufd_ioas_option, and someone "de-duplicates" it), so only
 * IOMMU_OPTION_HUGE_PAGES still refuses a non-zero __reserved.
 * IOMMU_OPTION_RLIMIT_MODE, whose handler never looked at __reserved, now
 * accepts it: a GET answers and copies val64 back, a SET (with
 * CAP_SYS_RESOURCE, on an empty context) switches the accounting mode, where
 * the kernel answers EOPNOTSUPP and changes nothing. Userspace that probes
 * for a future use of the reserved bits ("does this kernel understand
 * flag X in __reserved?") gets a false yes, and its SET takes effect with
 * the bits silently ignored; the reserved bits can never be given a meaning
 * for RLIMIT_MODE again without breaking such callers.
 *
 * Applied as: IOMMU_OPTION whose RLIMIT_MODE goes through _rlimit_mode.ts's
 * copy of iommufd_option_rlimit_mode (the val64 copy-back after it) with no
 * __reserved test before it; every other option is the reference's
 * iommufd_option (which still tests __reserved first).
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { EFAULT } from '../../../impl/lib/errno.ts';
import { IOMMU_OPTION_RLIMIT_MODE } from '../../../spec/uapi/constants.ts';
import { mutantImplementation } from '../harness.ts';
import { rlimitModeWith } from './_rlimit_mode.ts';

export function createAdapter(profile: Profile): Implementation {
  const rlimitMode = rlimitModeWith();
  return mutantImplementation('option-reserved-checked-for-huge-pages-only', profile, {
    handlers: {
      IOMMU_OPTION: (ucmd, original) => {
        const { cmd, ctx } = ucmd;
        // (the `if (cmd->__reserved) return -EOPNOTSUPP;` of iommufd_option is gone)
        if (cmd.num('option_id') !== IOMMU_OPTION_RLIMIT_MODE) return original(ucmd);
        const rc = rlimitMode(ucmd);
        if (rc) return rc;
        return ctx.proc.copyToUser(ucmd.ubuffer + BigInt(cmd.offsetOf('val64')), cmd.fieldBytes('val64')) ? 0 : -EFAULT;
      },
    },
  });
}
