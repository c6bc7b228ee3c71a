/**
 * update-unpinned-uncharges-all (drivers/iommu/iommufd/pages.c
 * update_unpinned; reached from __iopt_area_unfill_domain when an area
 * leaves its domains — IOMMU_IOAS_UNMAP, VFIO_IOMMU_UNMAP_DMA, the last
 * domain of an IOAS going away, the IOAS's destruction — and from
 * iopt_pages_unfill_xarray when an in-kernel access unpins; 6.12 and 7.3).
 *
 * An iopt_pages charges its pins lazily: pages->npinned counts the pages it
 * has pinned, pages->last_npinned the pages charged to RLIMIT_MEMLOCK
 * (user->locked_vm, or mm->locked_vm in the MM mode) and to mm->pinned_vm.
 * After an unpin, update_unpinned gives the difference back:
 *
 *     static void update_unpinned(struct iopt_pages *pages)
 *     {
 *             if (WARN_ON(pages->npinned > pages->last_npinned))
 *                     return;
 *             if (pages->npinned == pages->last_npinned)
 *                     return;
 *             iopt_pages_update_pinned(pages, pages->last_npinned - pages->npinned,
 *                                      false, NULL);
 *     }
 *
 * (do_update_pinned in 6.12). THE FAULT gives back what was charged instead
 * of what was unpinned:
 *
 *             iopt_pages_update_pinned(pages, pages->last_npinned, false, NULL);
 *
 * — written for the common case, the last holder of an iopt_pages letting go
 * of everything, where npinned drops to 0 and the two are the same number.
 * iopt_pages_update_pinned() then sets last_npinned = npinned as usual, so
 * the pages' own bookkeeping stays consistent and only the process's
 * counters are wrong.
 *
 * It shows only when one iopt_pages has two holders and one of them lets go
 * of part of it: an IOAS_COPY (same IOAS or another one with a domain) of
 * part of a mapping and then the unmap of either, an access pinning some
 * pages of an area whose other pages a domain holds (or two access ranges)
 * and one of them unpinning, a device detaching while an access still pins
 * some pages, a VFIO type1 (v1) partial unmap of an area (the halves share
 * one iopt_pages). Every such partial release uncharges the pages that stay
 * pinned as well: mm->pinned_vm (VmPin) and, under the MM mode (the VFIO
 * container, RLIMIT_MODE 1), mm->locked_vm (VmLck) drop below what is still
 * pinned and, once the rest goes, below where they started; under the user
 * accounting (/dev/iommu without CAP_IPC_LOCK) user->locked_vm drops by the
 * pages still pinned, so RLIMIT_MEMLOCK lets the process pin that much more
 * than its limit (repeat the copy/unmap and the limit means nothing), or,
 * when the user's count is already below that number, decr_user_locked_vm
 * WARNs and gives back nothing at all, leaving the unpinned pages charged.
 *
 * Applied as: on every iopt_pages an area of the mutant's IOASes points at,
 * a decrease of last_npinned to a non-zero npinned (update_unpinned after a
 * partial unpin) is charged as the kernel's faulty call would: locked_vm of
 * the pages' mode back by last_npinned (the user's only if it holds that
 * much, as decr_user_locked_vm; mm->locked_vm down to 0 at most), pinned_vm
 * back by last_npinned. Where the kernel's counters wrap below zero (VmPin,
 * VmLck then read as huge unsigned numbers) the model's stop at 0.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import type { IommufdIoas, IoptPages } from '../../../impl/iommufd/iommufd_private.ts';
import { mutantImplementation } from '../harness.ts';

/** The counters as they were before the reference's update_unpinned ran (taken when npinned drops). */
interface Before {
  user: number;
  mm: number;
}

function instrument(pages: IoptPages): void {
  const proc = pages.proc;
  let npinned = pages.npinned;
  let lastNpinned = pages.lastNpinned;
  let before: Before | null = null;
  Object.defineProperty(pages, 'npinned', {
    configurable: true,
    enumerable: true,
    get: () => npinned,
    set: (v: number) => {
      // batch_unpin → iopt_pages_sub_npinned: update_unpinned comes next.
      if (v < npinned) before = { user: proc.user.lockedVm, mm: proc.lockedVm };
      npinned = v;
    },
  });
  Object.defineProperty(pages, 'lastNpinned', {
    configurable: true,
    enumerable: true,
    get: () => lastNpinned,
    set: (v: number) => {
      const charged = lastNpinned;
      lastNpinned = v;
      if (v >= charged || v === 0 || before === null) return;
      // THE FAULT: iopt_pages_update_pinned(pages, pages->last_npinned, false, NULL).
      const delta = charged - v; // what the reference gives back (the kernel's last_npinned - npinned)
      switch (pages.accountMode) {
        case 'NONE':
          break;
        case 'USER': // decr_user_locked_vm: WARN and nothing when the user holds less
          proc.user.lockedVm = before.user < charged ? before.user : before.user - charged;
          break;
        case 'MM': // __account_locked_vm(mm, npages, false, ...)
          proc.lockedVm = Math.max(0, before.mm - charged);
          break;
      }
      proc.pinnedVm -= charged - delta; // the reference subtracts delta right after
      before = null;
    },
  });
}

export function createAdapter(profile: Profile): Implementation {
  const ioases = new Set<IommufdIoas>();
  const seen = new WeakSet<IoptPages>();
  const scan = (): void => {
    for (const ioas of ioases) {
      for (const area of ioas.iopt.areas) {
        const pages = area.pages;
        if (!pages || seen.has(pages)) continue;
        seen.add(pages);
        instrument(pages);
      }
    }
  };
  return mutantImplementation('update-unpinned-uncharges-all', profile, {
    process: (proc) => {
      ioases.clear();
      // mm->pinned_vm is an atomic64 the fault drives below zero (VmPin then reads as a huge unsigned
      // number); the model's counter stops at 0, as the reference's locked_vm counters do.
      let pinnedVm = proc.pinnedVm;
      Object.defineProperty(proc, 'pinnedVm', {
        configurable: true,
        enumerable: true,
        get: () => pinnedVm,
        set: (v: number) => {
          pinnedVm = Math.max(0, v);
        },
      });
    },
    object: (obj) => {
      if (obj?.type === 'IOAS') ioases.add(obj as IommufdIoas);
    },
    request: (req, next) => {
      // Every iopt_pages that can be partly released has been in an area since an earlier request.
      scan();
      const res = next(req);
      scan();
      return res;
    },
  });
}
