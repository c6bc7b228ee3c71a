/**
 * mm-locked-vm-charge-result-ignored (drivers/iommu/iommufd/pages.c
 * do_update_pinned — iopt_pages_update_pinned in 7.3 — for an iopt_pages in
 * IOPT_PAGES_ACCOUNT_MM: a ctx switched to IOMMU_OPTION_RLIMIT_MODE 1, or
 * opened as /dev/vfio/vfio, by a process without CAP_IPC_LOCK).
 *
 * The charge for newly pinned pages is refused past RLIMIT_MEMLOCK, and the
 * refusal is what makes the pfn reader's caller unwind (unmap and unpin)
 * and fail with ENOMEM:
 *
 *     switch (pages->account_mode) {
 *     case IOPT_PAGES_ACCOUNT_NONE:
 *             break;
 *     case IOPT_PAGES_ACCOUNT_USER:
 *             if (inc)
 *                     rc = incr_user_locked_vm(pages, npages);
 *             else
 *                     decr_user_locked_vm(pages, npages);
 *             break;
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
 *
 * (update_mm_locked_vm returns __account_locked_vm's answer: -ENOMEM, with
 * mm->locked_vm unchanged, when locked_vm + npages > the limit.)
 *
 * THE FAULT: `case IOPT_PAGES_ACCOUNT_MM: update_mm_locked_vm(pages, npages,
 * inc, user); break;` — the `rc =` lost (the USER case right above assigns
 * it; the MM call's result looks like a side-effect-only helper's). The USER
 * and NONE modes are unchanged, and so is the MM mode under the limit. Over
 * the limit, mm->locked_vm stays where it was but the pins are kept and
 * counted as charged (last_npinned, pinned_vm): an IOMMU_IOAS_MAP into an
 * IOAS with a domain, the first domain attached to an IOAS with areas, an
 * access pinning pages, a VFIO MAP_DMA — each succeeds past RLIMIT_MEMLOCK
 * where the kernel answers ENOMEM, leaving pages pinned that locked_vm does
 * not count. When they are unpinned, their uncharge is taken off locked_vm
 * anyway, eating other mappings' charge (the kernel's __account_locked_vm
 * WARNs and underflows there).
 *
 * Applied as: the process's rlimitMemlockPages (read by do_update_pinned
 * only) lets the MM charge's check pass, and the charge's store to
 * mm->locked_vm that follows is dropped when the real check would have
 * refused it (do_update_pinned's MM case reads mm->locked_vm just before the
 * limit; the USER case reads the user's locked_vm).
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';

const PATCHED = Symbol('mm-locked-vm-charge-result-ignored');

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('mm-locked-vm-charge-result-ignored', profile, {
    process: (proc) => {
      if ((proc as unknown as Record<symbol, boolean>)[PATCHED]) return;
      Object.defineProperty(proc, PATCHED, { value: true });
      /** Which locked_vm the charge being made read last. */
      let lastRead: 'user' | 'mm' | undefined;
      /** The limit of an MM charge just checked, until its store. */
      let mmCharge: number | undefined;
      const user = proc.user;
      let userLocked = user.lockedVm;
      Object.defineProperty(user, 'lockedVm', {
        get: () => {
          lastRead = 'user';
          return userLocked;
        },
        set: (v: number) => {
          userLocked = v;
        },
        configurable: true,
        enumerable: true,
      });
      let mmLocked = proc.lockedVm;
      Object.defineProperty(proc, 'lockedVm', {
        get: () => {
          lastRead = 'mm';
          return mmLocked;
        },
        set: (v: number) => {
          const limit = mmCharge;
          mmCharge = undefined;
          // __account_locked_vm refused (locked_vm + npages > limit): locked_vm unchanged, and THE FAULT goes on.
          if (limit !== undefined && v > mmLocked && v > limit) return;
          mmLocked = v;
        },
        configurable: true,
        enumerable: true,
      });
      patchOwn(proc, 'rlimitMemlockPages', (limit) => () => {
        const pages = limit();
        const read = lastRead;
        lastRead = undefined;
        if (read !== 'mm') return pages;
        // THE FAULT: update_mm_locked_vm's -ENOMEM is not assigned to rc, so the charge never fails.
        mmCharge = pages;
        return Infinity;
      });
    },
  });
}
