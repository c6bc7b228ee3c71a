/**
 * pinned-vm-charged-before-limit (drivers/iommu/iommufd/pages.c
 * do_update_pinned in 6.12, iopt_pages_update_pinned in 7.3: the charge of
 * newly pinned pages made by pfn_reader_user_update_pinned / update_pinned).
 *
 * The kernel (7.3; 6.12's do_update_pinned is the same):
 *
 *     int iopt_pages_update_pinned(struct iopt_pages *pages, unsigned long npages,
 *                                  bool inc, struct pfn_reader_user *user)
 *     {
 *             int rc = 0;
 *
 *             switch (pages->account_mode) {
 *             case IOPT_PAGES_ACCOUNT_NONE:
 *                     break;
 *             case IOPT_PAGES_ACCOUNT_USER:
 *                     if (inc)
 *                             rc = incr_user_locked_vm(pages, npages);
 *                     else
 *                             decr_user_locked_vm(pages, npages);
 *                     break;
 *             case IOPT_PAGES_ACCOUNT_MM:
 *                     rc = update_mm_locked_vm(pages, npages, inc, user);
 *                     break;
 *             }
 *             if (rc)
 *                     return rc;
 *
 *             pages->last_npinned = pages->npinned;
 *             if (inc)
 *                     atomic64_add(npages, &pages->source_mm->pinned_vm);
 *             else
 *                     atomic64_sub(npages, &pages->source_mm->pinned_vm);
 *             return 0;
 *     }
 *
 * The fault moves the mm->pinned_vm update above the switch ("pinned_vm
 * counts every long-term pin whatever the accounting mode"), so it happens
 * before the RLIMIT_MEMLOCK test can fail: an errno check after a side
 * effect. On success nothing changes. When incr_user_locked_vm (USER) or
 * __account_locked_vm (MM) refuses with -ENOMEM, pinned_vm has already grown
 * by npages, last_npinned has not moved, and the caller unpins the pages —
 * update_unpinned sees npinned == last_npinned and subtracts nothing. Every
 * refused pin leaks its size into mm->pinned_vm (VmPin) for good.
 *
 * Observable only for a process without CAP_IPC_LOCK whose pin goes over
 * RLIMIT_MEMLOCK (USER accounting, or MM under IOMMU_OPTION_RLIMIT_MODE 1 /
 * the VFIO compat container): the IOMMU_IOAS_MAP / IOAS_COPY / attach /
 * access pin fails with -ENOMEM as it must, but process_info's pinnedVmPages
 * then counts those pages although none is pinned, and keeps counting them
 * after every mapping, IOAS and file is gone.
 *
 * Applied as: the process's pins and unpins are counted since the last
 * settled charge (a write of locked_vm or pinned_vm); when the RLIMIT test is
 * made (task_rlimit) and the next thing that happens is the unwind's unpin
 * rather than the charge, pinned_vm grows by the pages that charge was for.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';

/** Replace a plain own data property by an accessor that reports each write. */
function watchWrites(obj: object, key: string, onWrite: () => void): void {
  let value = (obj as Record<string, unknown>)[key];
  Object.defineProperty(obj, key, {
    configurable: true,
    enumerable: true,
    get: () => value,
    set: (v: unknown) => {
      value = v;
      onWrite();
    },
  });
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('pinned-vm-charged-before-limit', profile, {
    process: (proc) => {
      /** Pages pinned (net) since the last charge or uncharge went through: the npages of the next charge. */
      let net = 0;
      /** The npages of a charge whose RLIMIT test is being made. */
      let pending: number | undefined;
      const settled = (): void => {
        net = 0;
        pending = undefined;
      };
      watchWrites(proc.user, 'lockedVm', settled);
      watchWrites(proc, 'lockedVm', settled);
      watchWrites(proc, 'pinnedVm', settled);
      patchOwn(proc, 'rlimitMemlockPages', (original) => () => {
        pending = net;
        return original();
      });
      patchOwn(proc, 'pinUserPages', (pin) => (va, npages, write) => {
        const r = pin(va, npages, write);
        if (r.errno === 0) net += npages;
        return r;
      });
      patchOwn(proc, 'unpinUserPage', (unpin) => (pfn) => {
        if (pending !== undefined) {
          // The RLIMIT test refused the charge: its pages are being unpinned again.
          const npages = pending;
          // THE FAULT: atomic64_add(npages, &pages->source_mm->pinned_vm) ran before `if (rc) return rc;`.
          proc.pinnedVm += npages;
          net = npages; // the unwind still has them to unpin
        }
        net--;
        unpin(pfn);
      });
    },
  });
}
