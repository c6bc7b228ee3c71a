/**
 * C9 — rlimit-mode-set-nonempty (drivers/iommu/iommufd/ioas.c
 * iommufd_option_rlimit_mode).
 *
 * The accounting mode of a context may only change while the context holds
 * no object, so that every iopt_pages of the context charges its pins in the
 * one place the mode names:
 *     xa_lock(&ictx->objects);
 *     if (!xa_empty(&ictx->objects)) {
 *             rc = -EBUSY;
 *     } else {
 *             if (cmd->val64 == 0)
 *                     ictx->account_mode = IOPT_PAGES_ACCOUNT_USER;
 *             else if (cmd->val64 == 1)
 *                     ictx->account_mode = IOPT_PAGES_ACCOUNT_MM;
 *             else
 *                     rc = -EINVAL;
 *     }
 *     xa_unlock(&ictx->objects);
 * The fault drops the emptiness test (the lock/test pair looked like it only
 * guarded the store). IOMMU_OPTION_RLIMIT_MODE SET succeeds on a context
 * that already has IOASes, HWPTs and mappings: pages mapped before the switch
 * stay charged to the user's locked_vm, pages mapped after it are charged to
 * the mm's locked_vm (or the reverse), so one context pins up to twice
 * RLIMIT_MEMLOCK while each counter stays below the limit, and a VFIO-style
 * manager that switched to MM mode sees only part of what the context pinned.
 *
 * Applied as: IOMMU_OPTION with option_id RLIMIT_MODE is the reference's
 * iommufd_option / iommufd_option_rlimit_mode without that test; every other
 * option is the reference's.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation } from '../harness.ts';
import { rlimitModeWith, rlimitOptionHandler } from './_rlimit_mode.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('rlimit-mode-set-nonempty', profile, {
    // THE FAULT: no xa_empty(&ictx->objects) test.
    handlers: { IOMMU_OPTION: rlimitOptionHandler(rlimitModeWith({ checksBusy: false })) },
  });
}
