/**
 * charge-mode-current-cap (drivers/iommu/iommufd/pages.c do_update_pinned,
 * with iopt_alloc_pages).
 *
 * Whether an iopt_pages is charged to RLIMIT_MEMLOCK is decided once, when
 * it is created, from the mapping task's privilege, and recorded:
 *     iopt_alloc_pages():
 *             if (capable(CAP_IPC_LOCK))
 *                     pages->account_mode = IOPT_PAGES_ACCOUNT_NONE;
 *             else
 *                     pages->account_mode = IOPT_PAGES_ACCOUNT_USER;
 *     (iopt_map_user_pages then upgrades USER to MM for an RLIMIT_MODE 1 /
 *      /dev/vfio/vfio context)
 * so that every later charge (pinning when a domain is attached, an access
 * pins, a slow-path access_rw) and every uncharge (unmap, detach, close)
 * of the same pages goes to the same counter. do_update_pinned switches on
 * pages->account_mode.
 *
 * The fault makes the exemption a property of the task doing the
 * (un)charge instead of the pages: iopt_alloc_pages records only USER/MM,
 * and do_update_pinned begins
 *     if (capable(CAP_IPC_LOCK))      // was: the recorded IOPT_PAGES_ACCOUNT_NONE
 *             goto out;               // locked_vm untouched; pinned_vm as before
 * — the shape of the old vfio_lock_acct() bugs (an uncharge in another
 * credential context than the charge).
 *
 * Consequence: the charge and the uncharge of the same pins no longer pair
 * up when the privilege differs between them — a task that drops
 * CAP_IPC_LOCK after mapping, or a privileged helper (or the exit of a task
 * that held it) that does the last close. Pins charged without the
 * capability and released with it stay charged: locked_vm (MM mode: VmLck
 * of the mm; USER mode: the user's locked_vm) leaks, and the user's later
 * maps fail with ENOMEM below RLIMIT_MEMLOCK. Pins taken with the
 * capability and released without it are "uncharged" from counters they
 * were never added to, eating other mappings' charges: those pages are then
 * pinned without being counted against the limit (the locked_vm clamps at
 * zero here; the kernel's atomic_long_sub goes further).
 *
 * Applied as: between requests, every iopt_pages of the context's IOASes
 * gets an own accessor for account_mode answering NONE while the process
 * holds CAP_IPC_LOCK and its recorded USER/MM mode (USER/MM per the
 * context's RLIMIT_MODE for pages created with the capability) otherwise.
 * Within the request that creates them the pages keep the reference's
 * mode, which is what the capability gives at that moment anyway.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';
import type { IommufdCtx, IommufdIoas, IoptPages, PagesAccountMode } from '../../../impl/iommufd/iommufd_private.ts';

export function createAdapter(profile: Profile): Implementation {
  const ioases = new Map<IommufdIoas, IommufdCtx>();
  const watched = new WeakSet<IoptPages>();

  const watchPages = (pages: IoptPages, ctx: IommufdCtx): void => {
    if (watched.has(pages)) return;
    watched.add(pages);
    // The mode the pages would carry without the NONE exemption recorded at creation.
    let recorded: PagesAccountMode = pages.accountMode === 'NONE' ? (ctx.accountMode === 'MM' ? 'MM' : 'USER') : pages.accountMode;
    Object.defineProperty(pages, 'accountMode', {
      configurable: true,
      enumerable: true,
      // THE FAULT: the exemption follows the (un)charging task's capability, not the one recorded at iopt_alloc_pages.
      get: (): PagesAccountMode => (pages.proc.capable('CAP_IPC_LOCK') ? 'NONE' : recorded),
      set: (v: PagesAccountMode) => {
        if (v !== 'NONE') recorded = v;
      },
    });
  };

  const watchAll = (): void => {
    for (const [ioas, ctx] of ioases) for (const area of ioas.iopt.areas) if (area.pages) watchPages(area.pages, ctx);
  };

  return mutantImplementation('charge-mode-current-cap', profile, {
    object: (obj, ctx) => {
      if (obj?.type !== 'IOAS') return;
      const ioas = obj as IommufdIoas;
      ioases.set(ioas, ctx);
      patchOwn(ioas, 'destroy', (destroy) => () => {
        ioases.delete(ioas);
        destroy();
      });
    },
    request: (req, next) => {
      watchAll();
      const res = next(req);
      watchAll();
      return res;
    },
  });
}
