/**
 * update-pinned-none-returns-early (drivers/iommu/iommufd/pages.c
 * do_update_pinned).
 *
 * Every change of an iopt_pages' pin count is accounted by do_update_pinned:
 * the per-user or per-mm locked_vm charge depends on the account mode, but
 * the bookkeeping after the switch is common to all modes — last_npinned
 * catches up with npinned, and mm->pinned_vm (VmPin) follows every pin:
 *
 *     switch (pages->account_mode) {
 *     case IOPT_PAGES_ACCOUNT_NONE:
 *             break;
 *     case IOPT_PAGES_ACCOUNT_USER:
 *             ...
 *     }
 *     if (rc)
 *             return rc;
 *
 *     pages->last_npinned = pages->npinned;
 *     if (inc)
 *             atomic64_add(npages, &pages->source_mm->pinned_vm);
 *     else
 *             atomic64_sub(npages, &pages->source_mm->pinned_vm);
 *     return 0;
 *
 * The fault: "nothing to account" for pages mapped by a CAP_IPC_LOCK holder
 * becomes an early exit,
 *
 *     case IOPT_PAGES_ACCOUNT_NONE:
 *             return 0;
 *
 * so for those pages neither last_npinned nor pinned_vm ever moves. Every
 * later update sees npinned != last_npinned (0): increases "charge" the
 * whole running count again into nothing, decreases hit update_unpinned's
 * WARN_ON(npinned > last_npinned) and return. Nothing fails and the end
 * state is balanced (pinned_vm was never raised, so it is never lowered).
 *
 * Observable over several commands: while memory mapped with CAP_IPC_LOCK
 * held (the default root process) is pinned — an IOAS_MAP into an IOAS with
 * a domain, a domain attached to an IOAS with maps, an access pinning pages —
 * the process's pinned_vm (VmPin, process_info's pinnedVmPages) does not
 * count it, while memory mapped after CAP_IPC_LOCK was dropped still counts;
 * the kernel counts both. pin_count and locked_vm are unaffected.
 *
 * Applied where an iopt_pages is born (IOMMU_IOAS_MAP and VFIO_IOMMU_MAP_DMA,
 * through copies of their handlers over the reference's iopt_map_pages,
 * _map.ts): a pages in account mode NONE gets a last_npinned that stays 0
 * and a view of its process whose pinned_vm does not move; the reference's
 * do_update_pinned runs unchanged over them. (Not modelled: with fail-nth,
 * the kernel's pfn_reader_update_pinned would also offer its fault site on
 * fills that pin nothing new, since npinned != last_npinned; the reference
 * asks it only when something was pinned.)
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation } from '../harness.ts';
import type { IoptPages } from '../../../impl/iommufd/iommufd_private.ts';
import type { Process } from '../../../impl/process/process.ts';
import { ioptMapPages } from '../../../impl/iommufd/io_pagetable.ts';
import { ioasMapHandler, vfioMapDmaHandler } from './_map.ts';

/** The process as do_update_pinned's NONE case sees it after the early return: pinned_vm never written. */
function pinnedVmFrozen(proc: Process): Process {
  return new Proxy(proc, {
    get: (target, prop) => {
      const v = Reflect.get(target, prop, target) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
    set: (target, prop, value) => {
      if (prop === 'pinnedVm') return true; // THE FAULT: return 0 before atomic64_add/sub(&pinned_vm)
      return Reflect.set(target, prop, value, target);
    },
  });
}

const faulty = new WeakSet<IoptPages>();

function makeFaulty(pages: IoptPages): void {
  if (faulty.has(pages) || pages.accountMode !== 'NONE') return;
  faulty.add(pages);
  // THE FAULT: return 0 before `pages->last_npinned = pages->npinned`.
  Object.defineProperty(pages, 'lastNpinned', { configurable: true, enumerable: true, get: () => 0, set: () => {} });
  Object.defineProperty(pages, 'proc', { configurable: true, enumerable: true, writable: false, value: pinnedVmFrozen(pages.proc) });
}

/** iopt_map_pages, the new pages (still the list's) given the faulty NONE accounting first. */
const mapPages: typeof ioptMapPages = (iopt, list, length, dstIova, prot, flags) => {
  for (const elm of list) if (elm.pages) makeFaulty(elm.pages);
  return ioptMapPages(iopt, list, length, dstIova, prot, flags);
};

export function createAdapter(profile: Profile): Implementation {
  const vfioMap = vfioMapDmaHandler({ mapPages });
  return mutantImplementation('update-pinned-none-returns-early', profile, {
    handlers: { IOMMU_IOAS_MAP: ioasMapHandler({ mapPages }) },
    compat: { VFIO_IOMMU_MAP_DMA: (ctx, d) => vfioMap(ctx, d) },
  });
}
