/**
 * update-unpinned-keeps-last-npinned (drivers/iommu/iommufd/pages.c
 * do_update_pinned, 7.3's iopt_pages_update_pinned; reached on every unpin
 * through update_unpinned: IOMMU_IOAS_UNMAP of a pinned area, detaching the
 * last domain, destroying an access's pins, closing the fd).
 *
 * The kernel (7.3; 6.12's do_update_pinned is the same):
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
 *     else
 *             atomic64_sub(npages, &pages->source_mm->pinned_vm);
 *
 * The fault records the charged count only on the charging side
 * (`if (inc) { pages->last_npinned = pages->npinned; atomic64_add(...); }
 * else atomic64_sub(...);`): after an uncharge last_npinned stays at the old,
 * higher count. The uncharge itself is right the first time; afterwards the
 * iopt_pages believes the pages it pins again are already charged.
 *
 * Observable through the same iopt_pages being unpinned and pinned again:
 * map with a domain, detach the domain (unpin and uncharge), attach again
 * (re-pin): the kernel charges the pages again (pinned_vm, and locked_vm under
 * MM accounting, against RLIMIT_MEMLOCK), the fault charges nothing --
 * pinned_vm stays lower and RLIMIT_MEMLOCK stops being enforced for them; a
 * later unpin then uncharges twice the delta (pinned_vm / locked_vm drop
 * below what is really pinned). The same for an access's pin/unpin.
 *
 * Applied as a hook on every iopt_pages of the process's IOASes: a write of
 * last_npinned that lowers it (only the uncharge path lowers it) is dropped.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation } from '../harness.ts';
import type { IommufdIoas, IoptPages } from '../../../impl/iommufd/iommufd_private.ts';

const patched = new WeakSet<IoptPages>();

function patchPages(pages: IoptPages): void {
  if (patched.has(pages)) return;
  patched.add(pages);
  let value = pages.lastNpinned;
  Object.defineProperty(pages, 'lastNpinned', {
    configurable: true,
    enumerable: true,
    get: () => value,
    set: (v: number) => {
      // THE FAULT: `pages->last_npinned = pages->npinned;` only when charging.
      if (v > value) value = v;
    },
  });
}

export function createAdapter(profile: Profile): Implementation {
  const ioases = new Set<IommufdIoas>();
  const sweep = (): void => {
    for (const ioas of ioases) for (const area of ioas.iopt.areas) if (area.pages) patchPages(area.pages);
  };
  return mutantImplementation('update-unpinned-keeps-last-npinned', profile, {
    object: (obj) => {
      if (obj.type === 'IOAS') ioases.add(obj as IommufdIoas);
    },
    request: (req, next) => {
      sweep();
      const res = next(req);
      sweep();
      return res;
    },
    iommufdIoctl: (_ctx, _d, original) => {
      sweep();
      const rc = original();
      sweep();
      return rc;
    },
  });
}
