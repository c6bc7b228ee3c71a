/**
 * mm-locked-vm-limit-inclusive
 *
 * Kernel: drivers/iommu/iommufd/pages.c, update_mm_locked_vm() ->
 * mm/util.c __account_locked_vm(), the RLIMIT_MEMLOCK test of the MM
 * accounting mode (IOMMU_OPTION_RLIMIT_MODE = 1, or a /dev/vfio/vfio compat
 * ctx, IOPT_PAGES_ACCOUNT_MM):
 *
 *	locked_vm = mm->locked_vm;
 *	if (inc) {
 *		if (!bypass_rlim) {
 *			limit = task_rlimit(task, RLIMIT_MEMLOCK) >> PAGE_SHIFT;
 *			if (locked_vm + pages > limit)
 *				ret = -ENOMEM;
 *		}
 *
 * The fault is the bound written `locked_vm + pages >= limit` (as if an
 * open-coded copy of the check in update_mm_locked_vm): a charge that brings
 * mm->locked_vm exactly to RLIMIT_MEMLOCK is refused. The per-user
 * (IOPT_PAGES_ACCOUNT_USER) path keeps the right bound.
 *
 * Observable: in RLIMIT_MODE 1, pinning exactly up to the limit fails with
 * ENOMEM (the kernel allows it; the last page fits), and nothing is pinned.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { lockedLimitMutant } from './_user_limit.ts';

// FAULT: `locked_vm + pages >= limit` == `locked_vm + pages > limit - 1`, in MM accounting only.
export function createAdapter(profile: Profile): Implementation {
  return lockedLimitMutant('mm-locked-vm-limit-inclusive', profile, 'mm', (limit) => limit - 1);
}
