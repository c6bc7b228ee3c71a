/**
 * mm-charge-bypass-on-ipc-lock (drivers/iommu/iommufd/pages.c,
 * update_mm_locked_vm — the IOPT_PAGES_ACCOUNT_MM case of do_update_pinned,
 * reached by an iommufd in IOMMU_OPTION_RLIMIT_MODE 1 and by a
 * /dev/vfio/vfio container).
 *
 * The kernel charges an MM-mode iopt_pages to the mm's locked_vm and always
 * holds it to RLIMIT_MEMLOCK: the capability decision was taken once, when
 * the pages were made (iopt_alloc_pages: CAP_IPC_LOCK at map time gives
 * IOPT_PAGES_ACCOUNT_NONE, and such pages are never charged at all):
 *
 *     mmap_write_lock(pages->source_mm);
 *     rc = __account_locked_vm(pages->source_mm, npages, inc,
 *                              pages->source_task, false);
 *     mmap_write_unlock(pages->source_mm);
 *
 * THE FAULT: the call is written as VFIO type1's vfio_lock_acct() writes it,
 * whose last argument (bypass_rlim) is the task's CAP_IPC_LOCK:
 *
 *     rc = __account_locked_vm(pages->source_mm, npages, inc,
 *                              pages->source_task, capable(CAP_IPC_LOCK));
 *
 * For MM-mode pages — mapped while the process lacked CAP_IPC_LOCK — a pin
 * charged at a time the caller holds CAP_IPC_LOCK (a device attached, a
 * domain added, an access pinning, after the capability was regained) skips
 * the limit test: locked_vm is raised past RLIMIT_MEMLOCK where the kernel
 * answers ENOMEM and unpins. The uncharge is unchanged, so the counts still
 * balance once everything is unpinned; what is lost is the limit (the pins
 * are taken against an RLIMIT_MEMLOCK the kernel enforces).
 *
 * Applied as: the process's rlimitMemlockPages (task_rlimit) answers
 * "unlimited" when do_update_pinned's MM case asks (it reads mm->locked_vm
 * just before; the USER case reads the user's locked_vm instead) and the
 * process holds CAP_IPC_LOCK.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import type { Process, UserStruct } from '../../../impl/process/process.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';

const PATCHED = Symbol('mm-charge-bypass-on-ipc-lock');

export function createAdapter(profile: Profile): Implementation {
  /** Whether the last locked_vm read was the mm's (the MM case of do_update_pinned), not the user's. */
  const state = { mmRead: false };

  const counterWatch = (obj: Process | UserStruct, isMm: boolean): void => {
    const tagged = obj as (Process | UserStruct) & { [PATCHED]?: true };
    if (tagged[PATCHED]) return;
    tagged[PATCHED] = true;
    let value = obj.lockedVm;
    Object.defineProperty(obj, 'lockedVm', {
      configurable: true,
      enumerable: true,
      get: () => {
        state.mmRead = isMm;
        return value;
      },
      set: (v: number) => {
        value = v;
      },
    });
  };

  return mutantImplementation('mm-charge-bypass-on-ipc-lock', profile, {
    process: (proc) => {
      counterWatch(proc, true);
      counterWatch(proc.user, false);
      patchOwn(proc, 'rlimitMemlockPages', (original) => () => {
        const mm = state.mmRead;
        state.mmRead = false;
        // THE FAULT: __account_locked_vm(..., bypass_rlim = capable(CAP_IPC_LOCK)) in the MM case.
        if (mm && proc.capable('CAP_IPC_LOCK')) return Infinity;
        return original();
      });
    },
  });
}
