/**
 * update-pinned-commits-before-charge (drivers/iommu/iommufd/pages.c
 * do_update_pinned (6.12) / iopt_pages_update_pinned (7.3), reached from
 * pfn_reader_user_update_pinned and update_unpinned: every pin and unpin of
 * an iopt_pages — IOMMU_IOAS_MAP / IOMMU_IOAS_COPY / VFIO_IOMMU_MAP_DMA into
 * an IOAS with a domain, a domain joining an IOAS, an access pin).
 *
 * iopt_pages charges its pins lazily: pages->npinned counts what is pinned,
 * pages->last_npinned what has been charged, and the difference is charged to
 * RLIMIT_MEMLOCK (user->locked_vm, or mm->locked_vm in the MM mode) and to
 * mm->pinned_vm once a pin is done; a refused charge (over the limit, ENOMEM)
 * is undone by unpinning what was just pinned and letting update_unpinned
 * settle the difference, which is then zero:
 *
 *     static int do_update_pinned(struct iopt_pages *pages, unsigned long npages,
 *                                 bool inc, struct pfn_reader_user *user)
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
 * (7.3's iopt_pages_update_pinned is the same body.) The fault records the
 * new count first — "the books now cover npinned" — ahead of the step that
 * can refuse it:
 *
 *             pages->last_npinned = pages->npinned;
 *             switch (pages->account_mode) {
 *             ...
 *             }
 *             if (rc)
 *                     return rc;
 *             if (inc)
 *                     atomic64_add(...);
 *
 * A state committed before the step that can fail. The refusal itself is
 * answered right (ENOMEM), but its unwind ("If the user lacked the limit then
 * the error unwind will unpin everything that was just pinned") ends in
 * update_unpinned, which now finds npinned below last_npinned and gives back
 * the N pages that were never charged: locked_vm and pinned_vm both drop by N.
 *
 * Why it takes several commands: a pin must be refused first — CAP_IPC_LOCK
 * dropped and RLIMIT_MEMLOCK too small for a map into an IOAS with a device
 * (or for a domain attach, or an access pin) — and the damage is in what
 * later commands are allowed. A pin within the limit, or one under
 * CAP_IPC_LOCK (no accounting), is unaffected.
 *
 * Consequence for a user: every refused pin of N pages lowers the process's
 * charge by N, so the memlock limit stops holding — the next map of N pages
 * more than the limit allows succeeds, and repeating the refused request opens
 * as much room as wanted: an unprivileged process pins unbounded memory
 * long-term. mm->pinned_vm (VmPin) falls below the pins actually held (below
 * zero when nothing else is pinned) and stays off after every object and
 * file is gone; in the MM mode (/dev/vfio/vfio, IOMMU_OPTION_RLIMIT_MODE 1)
 * mm->locked_vm (VmLck) does too.
 *
 * Applied as: each iopt_pages that IOMMU_IOAS_MAP and VFIO_IOMMU_MAP_DMA
 * create (copies of the reference's handlers, _map.ts) is instrumented before
 * its first pin; when the reference's do_update_pinned is about to refuse its
 * increase (the limit check of the USER or MM mode fails), last_npinned is
 * set to npinned first, and when the unwind then lowers npinned below it,
 * the difference is uncharged as the reference's own update_unpinned /
 * do_update_pinned would (locked_vm, which the reference never lets go below
 * zero, clamped there; pinned_vm not). A pinned_vm below zero is reported by
 * process_info as /proc would show the kernel's: VmPin prints the atomic64 as
 * an unsigned long, a number of pages far beyond anything pinned — given as
 * the largest count the contract can carry.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import type { IoptPages, PagesAccountMode } from '../../../impl/iommufd/iommufd_private.ts';
import { ioptMapPages } from '../../../impl/iommufd/io_pagetable.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';
import { ioasMapHandler, vfioMapDmaHandler } from './_map.ts';

export function createAdapter(profile: Profile): Implementation {
  const instrumented = new WeakSet<IoptPages>();
  /** iopt_pages whose last_npinned the faulty do_update_pinned committed before a refused charge. */
  const committed = new WeakSet<IoptPages>();
  /** The iopt_pages whose charge do_update_pinned is deciding (it reads account_mode, then the limit). */
  let charging: IoptPages | undefined;

  /** The reference's decrement (update_unpinned → do_update_pinned(..., false)). */
  const uncharge = (pages: IoptPages, npages: number): void => {
    const proc = pages.proc;
    if (pages.accountMode === 'USER') proc.user.lockedVm -= Math.min(npages, proc.user.lockedVm);
    else if (pages.accountMode === 'MM') proc.lockedVm -= Math.min(npages, proc.lockedVm);
    proc.pinnedVm -= npages;
  };

  const instrument = (pages: IoptPages): void => {
    if (instrumented.has(pages)) return;
    instrumented.add(pages);
    let mode: PagesAccountMode = pages.accountMode;
    Object.defineProperty(pages, 'accountMode', {
      configurable: true,
      enumerable: true,
      get: () => {
        charging = pages;
        return mode;
      },
      set: (v: PagesAccountMode) => {
        mode = v;
      },
    });
    let npinned = pages.npinned;
    Object.defineProperty(pages, 'npinned', {
      configurable: true,
      enumerable: true,
      get: () => npinned,
      set: (v: number) => {
        npinned = v;
        // The refused pins unpinned again: update_unpinned settles last_npinned - npinned, never charged.
        if (committed.has(pages) && v < pages.lastNpinned) {
          committed.delete(pages);
          uncharge(pages, pages.lastNpinned - v);
          pages.lastNpinned = v;
        }
      },
    });
  };

  /** iopt_map_pages, the list's new iopt_pages instrumented before their first pin. */
  const mapPages: typeof ioptMapPages = (iopt, list, length, dstIova, prot, flags) => {
    for (const elm of list) if (elm.pages) instrument(elm.pages);
    return ioptMapPages(iopt, list, length, dstIova, prot, flags);
  };

  return mutantImplementation('update-pinned-commits-before-charge', profile, {
    handlers: { IOMMU_IOAS_MAP: ioasMapHandler({ mapPages }) },
    // VmPin of a pinned_vm below zero: the unsigned long /proc prints, beyond any real count.
    request: (req, next) => {
      const res = next(req);
      if (req.op !== 'process_info' || !res.ok) return res;
      const r = res.result as { lockedVmPages: number; pinnedVmPages: number };
      return r.pinnedVmPages < 0 ? { ...res, result: { ...r, pinnedVmPages: Number.MAX_SAFE_INTEGER } } : res;
    },
    compat: { VFIO_IOMMU_MAP_DMA: vfioMapDmaHandler({ mapPages }) },
    process: (proc) => {
      charging = undefined;
      // Only do_update_pinned asks for the limit, right after reading the pages' account_mode.
      patchOwn(proc, 'rlimitMemlockPages', (limitOf) => () => {
        const limit = limitOf();
        const pages = charging;
        if (pages && instrumented.has(pages)) {
          const npages = pages.npinned - pages.lastNpinned;
          const held = pages.accountMode === 'MM' ? proc.lockedVm : proc.user.lockedVm;
          if (npages > 0 && held + npages > limit) {
            // THE FAULT: pages->last_npinned = pages->npinned; before the charge that refuses.
            pages.lastNpinned = pages.npinned;
            committed.add(pages);
          }
        }
        return limit;
      });
    },
  });
}
