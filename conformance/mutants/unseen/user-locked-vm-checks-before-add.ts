/**
 * user-locked-vm-checks-before-add (drivers/iommu/iommufd/pages.c
 * incr_user_locked_vm).
 *
 * Under the default accounting of /dev/iommu (IOPT_PAGES_ACCOUNT_USER, the
 * io_uring-style per-user charge) every pin of an iopt_pages is charged to
 * user_struct->locked_vm against RLIMIT_MEMLOCK, refusing the pin when the
 * charge would exceed the limit:
 *     cur_pages = atomic_long_read(&pages->source_user->locked_vm);
 *     do {
 *             new_pages = cur_pages + npages;
 *             if (new_pages > lock_limit)
 *                     return -ENOMEM;
 *     } while (!atomic_long_try_cmpxchg(&pages->source_user->locked_vm,
 *                                       &cur_pages, new_pages));
 * The fault tests the charge already held instead of the charge after this
 * pin (`if (cur_pages > lock_limit)`), as a rework of the cmpxchg loop can
 * easily leave it: a pin is refused only once the user is already over the
 * limit.
 *
 * Consequence: RLIMIT_MEMLOCK no longer bounds what an unprivileged user
 * (CAP_IPC_LOCK dropped) pins through /dev/iommu. As long as the user's
 * charge is at or below the limit, one IOMMU_IOAS_MAP into an IOAS with a
 * domain (or one access pin) of any size pins and charges all of it — with
 * a limit of L pages, a single map of any number of pages succeeds, and so
 * does a map of one more page when exactly L are already charged. The MM
 * mode (/dev/vfio/vfio, RLIMIT_MODE 1: __account_locked_vm in mm/util.c) is
 * not affected.
 *
 * Applied as: on the process, the RLIMIT_MEMLOCK check of the per-user charge
 * compares the charge read before the addition with the limit (the reference
 * reads user->locked_vm, adds npages, then asks the limit; the fault answers
 * "no limit" while the charge read is not above it).
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { userLimitMutant } from './_user_limit.ts';

export function createAdapter(profile: Profile): Implementation {
  // THE FAULT: `if (cur_pages > lock_limit)` instead of `if (cur_pages + npages > lock_limit)`.
  return userLimitMutant('user-locked-vm-checks-before-add', profile, (limit, userLocked) => (userLocked > limit ? limit : Infinity));
}
