/**
 * incr-locked-vm-no-undo (drivers/iommu/iommufd/pages.c incr_user_locked_vm).
 *
 * Under the default accounting of /dev/iommu (IOPT_PAGES_ACCOUNT_USER, a
 * process without CAP_IPC_LOCK) every new pin is charged to the *user's*
 * locked_vm, io_uring style, against RLIMIT_MEMLOCK; the charge and the limit
 * check are one atomic step:
 *     cur_pages = atomic_long_read(&pages->source_user->locked_vm);
 *     do {
 *             new_pages = cur_pages + npages;
 *             if (new_pages > lock_limit)
 *                     return -ENOMEM;
 *     } while (!atomic_long_try_cmpxchg(&pages->source_user->locked_vm,
 *                                       &cur_pages, new_pages));
 * The fault is the "simpler" add-then-check form, which forgets to take the
 * add back when the check fails:
 *     new_pages = atomic_long_add_return(npages, &pages->source_user->locked_vm);
 *     if (new_pages > lock_limit)
 *             return -ENOMEM;      // the npages just added stay charged
 * do_update_pinned returns the error before it touches last_npinned and
 * pinned_vm, and the caller unpins what it pinned, so nothing ever gives
 * that charge back: the pins are gone, the charge is not.
 *
 * Consequence: every pin that hits RLIMIT_MEMLOCK (an IOMMU_IOAS_MAP with a
 * domain attached, an attach that pins an IOAS's existing maps, an access's
 * pin) leaves its whole size charged to the user. The user_struct outlives
 * the iommufd file and the process, so the memlock budget of that uid shrinks
 * by the size of every failed attempt: maps well below the limit — with
 * nothing pinned at all — fail with ENOMEM, for this process and every other
 * process of the same user (io_uring, mlock, other VMMs), until that uid has
 * no process left (a lasting local denial of service).
 *
 * Applied as: the reference, with the failing limit check of the charge
 * leaving the npages it refused added to the user's locked_vm (USER mode
 * only; the MM mode's __account_locked_vm is mm code, untouched). The charge
 * being checked is found as the one iopt_pages whose npinned is ahead of its
 * last_npinned: the in-flight one of an IOMMU_IOAS_MAP / VFIO_IOMMU_MAP_DMA,
 * or one behind an area of an IOAS of the process (attach, COPY, accesses).
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';
import { ioptMapPages } from '../../../impl/iommufd/io_pagetable.ts';
import type { IommufdIoas, IoptPages } from '../../../impl/iommufd/iommufd_private.ts';
import type { Process } from '../../../impl/process/process.ts';
import { ioasMapHandler, vfioMapDmaHandler } from './_map.ts';

export function createAdapter(profile: Profile): Implementation {
  /** The IOASes of the current process (every context's). */
  const ioases = new Set<IommufdIoas>();
  /** iopt_pages being mapped by an IOMMU_IOAS_MAP / VFIO_IOMMU_MAP_DMA (not behind an area yet). */
  const inflight = new Set<IoptPages>();

  /** The iopt_pages whose pins are being charged (npinned ahead of last_npinned), if exactly one. */
  const charging = (proc: Process): IoptPages | undefined => {
    const found = new Set<IoptPages>();
    const consider = (p: IoptPages | null): void => {
      if (p && p.proc === proc && p.npinned > p.lastNpinned) found.add(p);
    };
    for (const p of inflight) consider(p);
    for (const ioas of ioases) for (const area of ioas.iopt.areas) consider(area.pages);
    return found.size === 1 ? [...found][0] : undefined;
  };

  /** iopt_map_pages with the new iopt_pages known while it fills the domains. */
  const mapPages: typeof ioptMapPages = (iopt, list, length, dstIova, prot, flags) => {
    const mine = list.map((e) => e.pages).filter((p): p is IoptPages => p !== null);
    for (const p of mine) inflight.add(p);
    try {
      return ioptMapPages(iopt, list, length, dstIova, prot, flags);
    } finally {
      for (const p of mine) inflight.delete(p);
    }
  };

  return mutantImplementation('incr-locked-vm-no-undo', profile, {
    process: (proc) => {
      ioases.clear();
      inflight.clear();
      // incr_user_locked_vm reads the limit (task_rlimit) for its check: the add is already done.
      patchOwn(proc, 'rlimitMemlockPages', (orig) => () => {
        const limit = orig();
        const pages = charging(proc);
        if (pages && pages.accountMode === 'USER') {
          const npages = pages.npinned - pages.lastNpinned;
          // THE FAULT: atomic_long_add_return() then the check; -ENOMEM leaves the add in place.
          if (proc.user.lockedVm + npages > limit) proc.user.lockedVm += npages;
        }
        return limit;
      });
    },
    object: (obj) => {
      if (obj?.type === 'IOAS') ioases.add(obj as IommufdIoas);
    },
    handlers: { IOMMU_IOAS_MAP: ioasMapHandler({ mapPages }) },
    compat: { VFIO_IOMMU_MAP_DMA: vfioMapDmaHandler({ mapPages }) },
  });
}
