/**
 * temp-memory-limit-bound-inclusive (selftest op bound):
 * iommufd_test (drivers/iommu/iommufd/selftest.c), IOMMU_TEST_OP_SET_TEMP_MEMORY_LIMIT.
 * The kernel:
 *
 *     case IOMMU_TEST_OP_SET_TEMP_MEMORY_LIMIT:
 *         // Protect _batch_init(), can not be less than elmsz
 *         if (cmd->memory_limit.limit <
 *             sizeof(unsigned long) + sizeof(u32))
 *             return -EINVAL;
 *         iommufd_test_memory_limit = cmd->memory_limit.limit;
 *         return 0;
 *
 * THE FAULT: the bound is inclusive (`<=`), so the smallest limit
 * _batch_init() can work with — exactly one element, 12 bytes — is refused.
 *
 * What a user sees: IOMMU_TEST_OP_SET_TEMP_MEMORY_LIMIT with limit 12 fails
 * with EINVAL instead of succeeding (the limit is left unchanged); every
 * other limit is answered as before. Both profiles.
 *
 * Applied as: a check in front of the reference's own op handler.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { IOMMU_TEST_OP_SET_TEMP_MEMORY_LIMIT } from '../../../spec/uapi/constants.ts';
import { EINVAL } from '../../../impl/lib/errno.ts';
import { mutantImplementation } from '../harness.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('temp-memory-limit-bound-inclusive', profile, {
    handlers: {
      IOMMU_TEST_CMD: (ucmd, original) => {
        if (ucmd.cmd.num('op') !== IOMMU_TEST_OP_SET_TEMP_MEMORY_LIMIT) return original(ucmd);
        // THE FAULT: `<=` where the kernel has `<` (sizeof(unsigned long) + sizeof(u32) = 12).
        if (ucmd.cmd.num('memory_limit.limit') <= 8 + 4) return -EINVAL;
        return original(ucmd);
      },
    },
  });
}
