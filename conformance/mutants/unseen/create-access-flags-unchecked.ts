/**
 * create-access-flags-unchecked
 *
 * Kernel: iommufd_test_create_access (drivers/iommu/iommufd/selftest.c). The
 * correct code rejects unknown flags before allocating anything:
 *
 *     if (flags & ~MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES)
 *             return -EOPNOTSUPP;
 *
 * The fault loses that test (dropped when the ops selection below it,
 * `flags & MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES ? &selftest_access_ops_pin
 * : &selftest_access_ops`, was thought to cover the flags). CREATE_ACCESS
 * with an unknown flag bit then succeeds: a new access fd and an access
 * object attached to the IOAS (holding a user on it, so IOMMU_DESTROY of the
 * IOAS answers EBUSY), where the kernel answers EOPNOTSUPP and creates nothing.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { IOMMU_TEST_OP_CREATE_ACCESS, MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES } from '../../../spec/uapi/constants.ts';
import { mutantImplementation } from '../harness.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('create-access-flags-unchecked', profile, {
    handlers: {
      IOMMU_TEST_CMD: (ucmd, original) => {
        if (ucmd.cmd.num('op') === IOMMU_TEST_OP_CREATE_ACCESS) {
          // FAULT: no EOPNOTSUPP for unknown bits; only NEEDS_PIN_PAGES is looked at.
          ucmd.cmd.set('create_access.flags', ucmd.cmd.num('create_access.flags') & MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES);
        }
        return original(ucmd);
      },
    },
  });
}
