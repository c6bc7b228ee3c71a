/**
 * M6 (access objects x memory protection): the slow path of
 * iopt_pages_rw_access (iopt_pages_rw_page's pin_user_pages_remote, and the
 * pfn reader of iopt_pages_rw_slow) pins without FOLL_WRITE for an
 * IOMMUFD_ACCESS_RW_WRITE: the pages' `writable` (how they were mapped) is
 * trusted, not the VMA as it is now.
 *
 * Consequence: after userspace mprotects a writably mapped buffer read-only,
 * an ACCESS_RW write through the slow path (another mm / kthread) still
 * lands in the read-only page instead of failing EFAULT (the write-to-RO
 * page / FOLL_FORCE-COW class).
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { IOMMU_TEST_OP_ACCESS_RW, MOCK_ACCESS_RW_SLOW_PATH, MOCK_ACCESS_RW_WRITE } from '../../../spec/uapi/constants.ts';
import { patchOwn, mutantImplementation } from '../harness.ts';
export function createAdapter(profile: Profile): Implementation {
  const state = { slowWrite: false };
  return mutantImplementation('access-rw-slow-no-foll-write', profile, {
    process: (proc) =>
      patchOwn(proc, 'pinUserPages', (pin) => (va, npages, write) => {
        return pin(va, npages, state.slowWrite ? false : write);
      }),
    handlers: {
      IOMMU_TEST_CMD: (ucmd, original) => {
        const { cmd } = ucmd;
        const flags = cmd.num('op') === IOMMU_TEST_OP_ACCESS_RW ? cmd.num('access_rw.flags') : 0;
        if (!(flags & MOCK_ACCESS_RW_SLOW_PATH) || !(flags & MOCK_ACCESS_RW_WRITE)) return original(ucmd);
        state.slowWrite = true;
        try {
          return original(ucmd);
        } finally {
          state.slowWrite = false;
        }
      },
    },
  });
}
