/**
 * pinned-vm-skipped-for-account-none (drivers/iommu/iommufd/pages.c
 * do_update_pinned, reached from pfn_reader_user_update_pinned and
 * update_unpinned whenever an iopt_pages' pin count changes; 6.12 and 7.3).
 *
 * The kernel:
 *
 *     switch (pages->account_mode) {
 *     case IOPT_PAGES_ACCOUNT_NONE:
 *             break;
 *     case IOPT_PAGES_ACCOUNT_USER:
 *             ...
 *     case IOPT_PAGES_ACCOUNT_MM:
 *             rc = update_mm_locked_vm(pages, npages, inc, user);
 *             break;
 *     }
 *     if (rc)
 *             return rc;
 *
 *     pages->last_npinned = pages->npinned;
 *     if (inc)
 *             atomic64_add(npages, &pages->source_mm->pinned_vm);
 *     else
 *             atomic64_sub(npages, &pages->source_mm->pinned_vm);
 *
 * The fault makes the NONE case leave the function early
 * (`case IOPT_PAGES_ACCOUNT_NONE: pages->last_npinned = pages->npinned;
 * return 0;`), as if "no accounting" meant no pinned_vm either: memory
 * mapped by a process holding CAP_IPC_LOCK (the default root session) is
 * pinned but never counted in mm->pinned_vm (VmPin), in either direction.
 *
 * What a user sees: after an IOMMU_IOAS_MAP into an IOAS with a domain (or an
 * access pin) made with CAP_IPC_LOCK, process_info's pinnedVmPages stays 0
 * where the kernel shows the pinned pages.
 *
 * Applied as: mm->pinned_vm changes made by a do_update_pinned that charged no
 * locked_vm (neither the user's nor the mm's moved: the NONE mode) are dropped.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import type { Process } from '../../../impl/process/process.ts';
import { mutantImplementation } from '../harness.ts';

export function createAdapter(profile: Profile): Implementation {
  const patched = new WeakSet<Process>();
  return mutantImplementation('pinned-vm-skipped-for-account-none', profile, {
    process: (proc) => {
      if (patched.has(proc)) return;
      patched.add(proc);
      let value = proc.pinnedVm;
      let userSeen = proc.user.lockedVm;
      let mmSeen = proc.lockedVm;
      Object.defineProperty(proc, 'pinnedVm', {
        get: () => value,
        set: (v: number) => {
          const charged = proc.user.lockedVm !== userSeen || proc.lockedVm !== mmSeen;
          userSeen = proc.user.lockedVm;
          mmSeen = proc.lockedVm;
          // THE FAULT: IOPT_PAGES_ACCOUNT_NONE returns before the pinned_vm update.
          if (!charged) return;
          value = v;
        },
        configurable: true,
        enumerable: true,
      });
    },
  });
}
