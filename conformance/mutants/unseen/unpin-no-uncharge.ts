/**
 * Round 6b fault (drivers/iommu/iommufd/pages.c do_update_pinned, the
 * IOPT_PAGES_ACCOUNT_USER case).
 *
 *     case IOPT_PAGES_ACCOUNT_USER:
 *             if (inc)
 *                     rc = incr_user_locked_vm(pages, npages);
 *             else
 *                     decr_user_locked_vm(pages, npages);
 * The fault loses the else branch (the decrement was moved under `if (rc)`
 * in a refactor): unpinning never gives the pages back to the per-user
 * locked_vm, while mm->pinned_vm does go down. Every IOAS_UNMAP, area
 * destroy or detach of the last domain leaks its charge: locked_vm only
 * grows, and after enough map/unmap cycles of the same buffer a process well
 * within RLIMIT_MEMLOCK gets -ENOMEM from IOMMU_IOAS_MAP with nothing pinned.
 *
 * Applied as: decreases of the process's user_struct locked_vm are dropped.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import type { UserStruct } from '../../../impl/process/process.ts';
import { mutantImplementation } from '../harness.ts';

export function createAdapter(profile: Profile): Implementation {
  const patched = new WeakSet<UserStruct>();
  return mutantImplementation('unpin-no-uncharge', profile, {
    process: (proc) => {
      const user = proc.user;
      if (patched.has(user)) return;
      patched.add(user);
      let value = user.lockedVm;
      Object.defineProperty(user, 'lockedVm', {
        get: () => value,
        set: (v: number) => {
          // THE FAULT: decr_user_locked_vm() never called.
          if (v < value) return;
          value = v;
        },
        configurable: true,
        enumerable: true,
      });
    },
  });
}
