/**
 * mm-uncharge-decrements-user (drivers/iommu/iommufd/pages.c do_update_pinned,
 * the uncharge half reached through update_unpinned).
 *
 * An iopt_pages is charged in the mode its context had when it was mapped
 * (pages->account_mode): IOPT_PAGES_ACCOUNT_USER charges the user's
 * locked_vm (user_struct, shared by every process and context of the user),
 * IOPT_PAGES_ACCOUNT_MM — a /dev/vfio/vfio context, or IOMMU_OPTION
 * RLIMIT_MODE 1 — charges the mm's locked_vm (VmLck), as VFIO type1 does.
 * The charge and the uncharge must hit the same counter:
 *
 *     case IOPT_PAGES_ACCOUNT_USER:
 *             if (inc)
 *                     rc = incr_user_locked_vm(pages, npages);
 *             else
 *                     decr_user_locked_vm(pages, npages);
 *             break;
 *     case IOPT_PAGES_ACCOUNT_MM:
 *             rc = update_mm_locked_vm(pages, npages, inc, user);
 *             break;
 *
 * The fault is a copy-paste in the MM case, written like the USER case:
 *
 *     case IOPT_PAGES_ACCOUNT_MM:
 *             if (inc)
 *                     rc = update_mm_locked_vm(pages, npages, inc, user);
 *             else
 *                     decr_user_locked_vm(pages, npages);
 *             break;
 *
 * (pages->source_user is set for every iopt_pages, so nothing crashes.) An
 * MM-mode page is charged to mm->locked_vm when pinned, but its unpin takes
 * the pages off the user's locked_vm instead — when the user's count is large
 * enough; otherwise decr_user_locked_vm WARNs and changes nothing.
 *
 * Consequences for a user:
 *   - alone, an MM-mode context never gives its charge back: VmLck
 *     (mm->locked_vm) only grows with every map/unmap or attach/detach cycle,
 *     stays after every file is closed, and the process eventually cannot pin
 *     anything in MM mode (ENOMEM against RLIMIT_MEMLOCK);
 *   - with two contexts of the same user, one in the default per-user mode
 *     holding pins and one in MM mode that unpins, the MM unpins erase the
 *     other context's charge from user->locked_vm: its pages stay pinned but
 *     are no longer charged, so the user can pin past RLIMIT_MEMLOCK.
 *
 * Applied as: every iopt_pages of the process gets an accessor on
 * last_npinned (installed before its first uncharge); when update_unpinned
 * reads it for an MM-mode iopt_pages the faulty uncharge is done there
 * (decr_user_locked_vm, then pinned_vm and the new baseline as the kernel
 * does), and the reference sees nothing left to account.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import type { IommufdCtx, IommufdIoas, IoptPages } from '../../../impl/iommufd/iommufd_private.ts';
import { mutantImplementation } from '../harness.ts';

const PATCHED = Symbol('mm-uncharge-decrements-user');

function patchPages(pages: IoptPages): void {
  const tagged = pages as IoptPages & { [PATCHED]?: true };
  if (tagged[PATCHED]) return;
  tagged[PATCHED] = true;
  let last = pages.lastNpinned;
  Object.defineProperty(pages, 'lastNpinned', {
    configurable: true,
    enumerable: true,
    get: () => {
      if (pages.accountMode === 'MM' && pages.npinned < last) {
        // update_unpinned -> do_update_pinned(pages, last - npinned, false)
        const npages = last - pages.npinned;
        const proc = pages.proc;
        // THE FAULT: decr_user_locked_vm instead of __account_locked_vm(mm, .., false).
        if (proc.user.lockedVm >= npages) proc.user.lockedVm -= npages; // else WARN_ON and return
        last = pages.npinned;
        proc.pinnedVm -= npages;
        return pages.npinned; // nothing left for the reference to account
      }
      return last;
    },
    set: (v: number) => {
      last = v;
    },
  });
}

export function createAdapter(profile: Profile): Implementation {
  const ctxs = new Set<IommufdCtx>();
  const scan = (): void => {
    for (const ctx of ctxs) {
      for (const [, obj] of ctx.objects.entries()) {
        if (obj.type !== 'IOAS') continue;
        for (const area of (obj as IommufdIoas).iopt.areas) if (area.pages) patchPages(area.pages);
      }
    }
  };
  return mutantImplementation('mm-uncharge-decrements-user', profile, {
    ctx: (ctx) => {
      ctxs.add(ctx);
    },
    request: (req, next) => {
      if (req.op === 'reset') ctxs.clear();
      scan();
      const res = next(req);
      scan();
      return res;
    },
  });
}
