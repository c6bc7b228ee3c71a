/**
 * user-locked-vm-limit-inclusive (drivers/iommu/iommufd/pages.c
 * incr_user_locked_vm, reached from do_update_pinned for an iopt_pages in
 * IOPT_PAGES_ACCOUNT_USER: the default RLIMIT_MODE 0 of /dev/iommu, a
 * process without CAP_IPC_LOCK).
 *
 * The kernel's (6.12 and 7.3 alike) lets the per-user locked_vm reach the
 * limit exactly; only going past it is refused:
 *
 *     lock_limit = task_rlimit(pages->source_task, RLIMIT_MEMLOCK) >>
 *                  PAGE_SHIFT;
 *
 *     cur_pages = atomic_long_read(&pages->source_user->locked_vm);
 *     do {
 *             new_pages = cur_pages + npages;
 *             if (new_pages > lock_limit)
 *                     return -ENOMEM;
 *     } while (!atomic_long_try_cmpxchg(&pages->source_user->locked_vm,
 *                                       &cur_pages, new_pages));
 *     return 0;
 *
 * (the same rule as mm's __account_locked_vm, `locked_vm + pages > limit`,
 * and io_uring's __io_account_mem it was copied from).
 *
 * THE FAULT: `if (new_pages >= lock_limit)` — the limit read as an
 * exclusive bound, a classic off-by-one when a "limit" is thought of as
 * a size rather than a maximum. Every charge that would bring the user's
 * locked_vm to exactly RLIMIT_MEMLOCK / PAGE_SIZE pages is refused with
 * -ENOMEM: e.g. with RLIMIT_MEMLOCK = 64 KiB, an IOMMU_IOAS_MAP of 16 pages
 * into an IOAS with a domain (or the first domain attached to an IOAS
 * holding 16 pages, or an access pinning them) fails, and nothing is
 * pinned or charged, where the kernel succeeds with locked_vm = 16. With
 * RLIMIT_MEMLOCK 0 both refuse everything, with RLIM_INFINITY neither does.
 * The MM mode (RLIMIT_MODE 1, /dev/vfio/vfio), charged by mm's
 * __account_locked_vm, keeps the right bound.
 *
 * Applied as: the process's rlimitMemlockPages (task_rlimit >> PAGE_SHIFT,
 * read by do_update_pinned only) answers one page less when the charge
 * being checked is the per-user one (do_update_pinned's USER case reads
 * source_user->locked_vm just before it; the MM case reads mm->locked_vm).
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { userLimitMutant } from './_user_limit.ts';

export function createAdapter(profile: Profile): Implementation {
  // THE FAULT: incr_user_locked_vm refuses new_pages >= lock_limit.
  return userLimitMutant('user-locked-vm-limit-inclusive', profile, (limit) => limit - 1);
}
