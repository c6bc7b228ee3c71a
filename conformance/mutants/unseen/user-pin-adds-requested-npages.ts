/**
 * user-pin-adds-requested-npages (drivers/iommu/iommufd/pages.c
 * pfn_reader_user_pin, the mm tier of every pfn reader: a domain filled
 * (IOMMU_HWPT_ALLOC / attach, IOMMU_IOAS_MAP / COPY into an IOAS with
 * domains), an in-kernel access pinning (iopt_pages_fill_from_mm), the slow
 * ACCESS_RW path).
 *
 * The kernel asks for `npages` and counts what pin_user_pages returned:
 *
 *     npages = min_t(unsigned long, last_index - start_index + 1,
 *                    user->upages_len / sizeof(*user->upages));
 *     ...
 *     if (!remote_mm)
 *             rc = pin_user_pages_fast(uptr, npages, user->gup_flags,
 *                                      user->upages);
 *     ...
 *     if (rc <= 0) {
 *             if (WARN_ON(!rc))
 *                     return -EFAULT;
 *             return rc;
 *     }
 *     iopt_pages_add_npinned(pages, rc);
 *     user->upages_start = start_index;
 *     user->upages_end = start_index + rc;
 *
 * The fault adds the number asked for instead of the number pinned (both are
 * locals of the function, a one-word slip):
 *
 *     iopt_pages_add_npinned(pages, npages);
 *
 * pin_user_pages_fast() pins all it is asked for unless it meets a page it
 * cannot pin (unmapped, PROT_NONE, read-only for a writable map): then it
 * returns the count before that page. Only that partial pin differs. The
 * reader goes on with the pages it got, fails at the bad page (-EFAULT) and
 * its unwind unpins what it pinned and subtracts that (the real count), so
 * pages->npinned is left `npages - rc` above the pages really pinned — a
 * phantom that pfn_reader_destroy() only WARNs about. Nothing is charged for
 * it then (the failed reader never reaches pfn_reader_update_pinned), so the
 * failing command itself looks right.
 *
 * Consequence: the iopt_pages lives on (an IOAS_MAP made before any domain,
 * a COPY of it elsewhere), and the next reader that does charge it — an
 * access pinning a good part of the mapping, a domain attached to another
 * IOAS holding a COPY of it, the same attach retried after the user fixed
 * the mapping — charges npinned - last_npinned, phantom included: mm->pinned_vm
 * (VmPin) and user->locked_vm (or mm->locked_vm) go up by pages nobody
 * pinned. The unpins only ever give back what was really pinned (npinned
 * never drops below the phantom), so the charge stays after everything is
 * unmapped and closed, and a process under RLIMIT_MEMLOCK gets ENOMEM for
 * pins within its limit.
 *
 * Applied as: every iopt_pages the process creates (IOMMU_IOAS_MAP and the
 * VFIO type1 MAP_DMA, served through _map.ts's copies of the reference's
 * handlers so the new pages are reached before they are first pinned) pins
 * through its own view of the process: a pin of several pages that fails
 * after pinning some adds the pages asked for minus the pages pinned to the
 * pages' npinned (the reference's reader then unpins and counts back exactly
 * what it pinned, as the kernel's unwind does). The requested count is the
 * run the reference pins at once (the hole of the span, up to 512 pages).
 * update_unpinned's own guard is kept: an unpin that finds npinned above
 * last_npinned (the phantom, not yet charged) uncharges nothing
 * (WARN_ON(pages->npinned > pages->last_npinned) return).
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';
import { PAGE_SIZE, type IoptPages } from '../../../impl/iommufd/iommufd_private.ts';
import { ioptMapPages } from '../../../impl/iommufd/io_pagetable.ts';
import type { Process } from '../../../impl/process/process.ts';
import { ioasMapHandler, vfioMapDmaHandler } from './_map.ts';

const P = BigInt(PAGE_SIZE);
const faulty = new WeakSet<IoptPages>();

/** How many leading pages of [va, va + n pages) pin_user_pages_fast() would pin before it meets one it cannot. */
function pinnablePrefix(proc: Process, va: bigint, n: number, write: boolean): number {
  let k = 0;
  for (; k < n; k++) {
    const t = proc.translateVa(va + BigInt(k) * P);
    if (!t || t.pfn < 0 || !t.prot.read || (write && !t.prot.write)) break;
  }
  return k;
}

/** The fault on one iopt_pages, installed before its first pin. */
function makeFaulty(pages: IoptPages): void {
  if (faulty.has(pages)) return;
  faulty.add(pages);
  const real = pages.proc;
  // pages->npinned and pages->last_npinned as the kernel has them. `released`: the last change
  // of npinned was an unpin, so the next read of last_npinned is update_unpinned's.
  let npinned = pages.npinned;
  let last = pages.lastNpinned;
  let released = false;
  Object.defineProperty(pages, 'npinned', {
    configurable: true,
    enumerable: true,
    get: () => npinned,
    set: (v: number) => {
      released = v < npinned;
      npinned = v;
    },
  });
  Object.defineProperty(pages, 'lastNpinned', {
    configurable: true,
    enumerable: true,
    get: () => {
      // update_unpinned: if (WARN_ON(pages->npinned > pages->last_npinned)) return;
      if (released) {
        released = false;
        if (npinned > last) return npinned;
      }
      return last;
    },
    set: (v: number) => {
      last = v;
    },
  });

  // pfn_reader_user_pin for this iopt_pages.
  const pinUserPages: Process['pinUserPages'] = (va, n, write) => {
    released = false;
    const r = real.pinUserPages(va, n, write);
    if (r.errno !== 0 && n > 1) {
      const rc = pinnablePrefix(real, va, n, write);
      // THE FAULT: iopt_pages_add_npinned(pages, npages) where rc pages were pinned. The
      // reader's unwind unpins those rc and subtracts rc: `n - rc` stay counted.
      if (rc > 0) npinned += n - rc;
    }
    return r;
  };
  const view = new Proxy(real, {
    get(target, key) {
      if (key === 'pinUserPages') return pinUserPages;
      const v = Reflect.get(target, key, target) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
  patchOwn(pages, 'proc', () => view);
}

/** iopt_map_pages, with the list's new iopt_pages made faulty before the first pin. */
const mapPages: typeof ioptMapPages = (iopt, list, length, dstIova, prot, flags) => {
  for (const elm of list) if (elm.pages) makeFaulty(elm.pages);
  return ioptMapPages(iopt, list, length, dstIova, prot, flags);
};

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('user-pin-adds-requested-npages', profile, {
    handlers: { IOMMU_IOAS_MAP: ioasMapHandler({ mapPages }) },
    compat: { VFIO_IOMMU_MAP_DMA: vfioMapDmaHandler({ mapPages }) },
  });
}
