/**
 * rlimit-mode-unknown-op-gets (iommufd_option_rlimit_mode,
 * drivers/iommu/iommufd/ioas.c, reached from iommufd_option in main.c;
 * IOMMU_OPTION with option_id IOMMU_OPTION_RLIMIT_MODE and an op that is
 * neither GET nor SET; 6.12 and 7.3).
 *
 * The kernel's code:
 *
 *     if (cmd->object_id)
 *             return -EOPNOTSUPP;
 *
 *     if (cmd->op == IOMMU_OPTION_OP_GET) {
 *             cmd->val64 = ictx->account_mode == IOPT_PAGES_ACCOUNT_MM;
 *             return 0;
 *     }
 *     if (cmd->op == IOMMU_OPTION_OP_SET) {
 *             ...
 *             return rc;
 *     }
 *     return -EOPNOTSUPP;
 *
 * The fault: the GET branch is written as the fall-through of the SET test
 * (`if (cmd->op == IOMMU_OPTION_OP_SET) { ... } cmd->val64 = ...; return 0;`),
 * so any op other than SET (2, 3, 0xffffffff, ...) is answered as a GET:
 * success, and val64 overwritten in the user's struct with the accounting
 * mode, where the kernel answers EOPNOTSUPP and leaves the struct alone.
 * Userspace probing for a future op gets a false "supported".
 *
 * Applied as: IOMMU_OPTION RLIMIT_MODE with an unknown op is re-issued to the
 * reference as OP_GET (its object_id check, GET and val64 copy-back); the
 * rest is the reference's.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { IOMMU_OPTION_OP_GET, IOMMU_OPTION_OP_SET, IOMMU_OPTION_RLIMIT_MODE } from '../../../spec/uapi/constants.ts';
import { mutantImplementation } from '../harness.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('rlimit-mode-unknown-op-gets', profile, {
    handlers: {
      IOMMU_OPTION: (ucmd, original) => {
        const { cmd } = ucmd;
        const op = cmd.num('op');
        if (cmd.num('option_id') !== IOMMU_OPTION_RLIMIT_MODE || op === IOMMU_OPTION_OP_GET || op === IOMMU_OPTION_OP_SET) return original(ucmd);
        // THE FAULT: every op but SET takes the GET path.
        cmd.set('op', IOMMU_OPTION_OP_GET);
        return original(ucmd);
      },
    },
  });
}
