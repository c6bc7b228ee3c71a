/**
 * reader-unpin-domain-span (drivers/iommu/iommufd/pages.c pfn_reader_unpin;
 * reached from iopt_pages_rw_slow — IOMMU_TEST_OP_ACCESS_RW with
 * MOCK_ACCESS_RW_SLOW_PATH, iommufd_access_rw from a kthread or another mm,
 * over more than one page — and from pfn_reader_release_pins when a pfn
 * reader stops on an error: a domain fill whose pin faults, e.g.
 * IOMMU_IOAS_COPY into an IOAS with a domain; 6.12 and 7.3).
 *
 * A pfn_reader collects an iopt_pages' PFNs in batches from three places: a
 * span an in-kernel access holds is read from the pages xarray (the
 * access_itree, double-span index 1), a span an area filled into a domain
 * holds is read back from that area's storage domain (the domains_itree,
 * index 2), and only a hole is pinned from the user's mm. When the reader
 * is done with a batch it must give back the pins it took itself and only
 * those:
 *
 *     /*
 *      * The batch can contain a mixture of pages that are still in use and pages that
 *      * need to be unpinned. Unpin only pages that are not held anywhere else.
 *      *\/
 *     static void pfn_reader_unpin(struct pfn_reader *pfns)
 *     {
 *             ...
 *             interval_tree_for_each_double_span(&span, &pages->access_itree,
 *                                                &pages->domains_itree, start, last) {
 *                     if (span.is_used)
 *                             continue;
 *
 *                     batch_unpin(&pfns->batch, pages, span.start_hole - start,
 *                                 span.last_hole - span.start_hole + 1);
 *             }
 *     }
 *
 * THE FAULT tests for the access tree only ("0 = hole, 1 = used span[0],
 * 2 = used span[1]" — the pins of accesses live in the xarray, so "skip what
 * the xarray holds" was written as the index of the first tree):
 *
 *                     if (span.is_used == 1)
 *                             continue;
 *
 * start_hole and start_used share a union, so a span the domains hold is
 * passed to batch_unpin() like a hole: the pages a domain maps, pinned once
 * for every area and domain of the iopt_pages, lose that pin.
 *
 * Two objects: nothing happens while an iopt_pages is used by one kind of
 * holder. It takes pages filled into a domain (an IOAS with a device or HWPT
 * and a MAP or COPY) and then a reader that crosses them: a slow-path access
 * read or write of two or more pages at those IOVAs (the access object and
 * the domain both on the IOAS, or on two IOASes sharing the pages through
 * IOMMU_IOAS_COPY), or a COPY of them into an IOAS with a domain that fails
 * on a page that cannot be pinned (munmapped, or read-only for a writable
 * mapping). The rw succeeds (or the COPY fails with EFAULT, as it must) and
 * returns the right data, but the domain's pages are now unpinned while every
 * IOMMU page table still maps them: pin counts drop to 0, the next munmap of
 * the user memory frees the frames, and the device's DMA at the still-mapped
 * IOVAs reaches whatever the allocator gives those frames next (another
 * buffer, the kernel). When the area is finally unmapped, its teardown
 * unpins the same pages a second time.
 *
 * Applied as: IOMMU_TEST_OP_ACCESS_RW runs the shared copy of
 * iommufd_test_access_rw (_access_rw.ts) over iopt_pages_rw_access whose
 * multi-page slow path, after the reference's, unpins the user pages of the
 * indexes that were pinned before it and that no access range covers (the
 * domain spans), up to the first page it could not pin when it fails;
 * IOMMU_IOAS_COPY runs the shared copy of iommufd_ioas_copy (_copy.ts,
 * _map.ts) whose fill, when its pin fails, unpins the domain spans of the
 * area before the first page that cannot be pinned (the batch the reader
 * was building; areas are far smaller than a batch here). The pages'
 * own bookkeeping (holders, npinned and the charge) is left as the reference
 * keeps it, and the holder's later unpin of such a page is dropped (the
 * kernel would unpin it twice). The other fill that reads domain spans, a
 * domain joining an IOAS whose pages another IOAS's domain holds, is not
 * changed.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { IOMMU_TEST_OP_ACCESS_RW } from '../../../spec/uapi/constants.ts';
import { EFAULT } from '../../../impl/lib/errno.ts';
import { PAGE_SIZE, type IoptPages } from '../../../impl/iommufd/iommufd_private.ts';
import { ioptPagesHold, ioptPagesRelease, ioptPagesRwAccess } from '../../../impl/iommufd/pages.ts';
import type { Process } from '../../../impl/process/process.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';
import { accessRwHandler } from './_access_rw.ts';
import { copyHandler } from './_copy.ts';
import { areaFillDomainsWith, fillDomainsPagesWith, mapPagesWith } from './_map.ts';

const P = BigInt(PAGE_SIZE);

/** The page indexes of [first, last] a pfn reader would find in domains_itree: pinned, and no access range over them. */
function domainSpan(pages: IoptPages, first: number, last: number): number[] {
  const out: number[] = [];
  for (let i = first; i <= last; i++) {
    if (!pages.pinned.has(i)) continue;
    if (pages.accesses.some((a) => a.start <= i && i <= a.last)) continue;
    out.push(i);
  }
  return out;
}

/** The first index of [first, last] that is not pinned and that pin_user_pages cannot pin (last + 1 if none). */
function firstUnpinnable(pages: IoptPages, first: number, last: number): number {
  for (let i = first; i <= last; i++) {
    if (pages.pinned.has(i)) continue;
    const t = pages.proc.translateVa(pages.uptr + BigInt(i) * P);
    if (!t || t.pfn < 0 || !t.prot.read || (pages.writable && !t.prot.write)) return i;
  }
  return last + 1;
}

export function createAdapter(profile: Profile): Implementation {
  /** Frames whose pin the faulty reader dropped: the holder's own unpin later is the second one. */
  const owed = new Map<number, number>();
  let unpin: ((pfn: number) => void) | null = null;

  /** batch_unpin() over the domain spans: the user pages lose the domain's pin. */
  const unpinDomainSpans = (proc: Process, pages: IoptPages, indexes: readonly number[]): void => {
    for (const i of indexes) {
      const pfn = pages.pinnedPfn(i);
      if (pfn === undefined || proc.pinCountOfPfn(pfn) === 0 || !unpin) continue;
      unpin(pfn);
      owed.set(pfn, (owed.get(pfn) ?? 0) + 1);
    }
  };

  /** iopt_pages_rw_access whose iopt_pages_rw_slow runs the faulty pfn_reader_unpin. */
  const pagesRw: typeof ioptPagesRwAccess = (pages, startByte, data, write, slowPath = false) => {
    const startIndex = Math.floor(startByte / PAGE_SIZE);
    const lastIndex = Math.floor((startByte + data.length - 1) / PAGE_SIZE);
    if (!slowPath || startIndex === lastIndex || (write && !pages.writable)) return ioptPagesRwAccess(pages, startByte, data, write, slowPath);
    const held = domainSpan(pages, startIndex, lastIndex);
    const bad = firstUnpinnable(pages, startIndex, lastIndex);
    const rc = ioptPagesRwAccess(pages, startByte, data, write, slowPath);
    // THE FAULT: every batch the reader read (all of it, or up to the page that failed) has its domain spans unpinned.
    if (rc === 0) unpinDomainSpans(pages.proc, pages, held);
    else if (rc === -EFAULT) unpinDomainSpans(pages.proc, pages, held.filter((i) => i < bad));
    return rc;
  };

  /** iopt_area_fill_domains' reader: on a failed pin, pfn_reader_release_pins unpins the batch's domain spans too. */
  const fill = areaFillDomainsWith({
    hold: (pages, first, last) => {
      const held = domainSpan(pages, first, last);
      const bad = firstUnpinnable(pages, first, last);
      const r = ioptPagesHold(pages, first, last, 'later');
      // THE FAULT: pfn_reader_release_pins → pfn_reader_unpin over [batch_start, bad).
      if (r.errno === -EFAULT) unpinDomainSpans(pages.proc, pages, held.filter((i) => i < bad));
      return { errno: r.errno, release: () => ioptPagesRelease(pages, first, last) };
    },
  });
  const copy = copyHandler({ mapPages: mapPagesWith({ fillDomains: fillDomainsPagesWith(fill) }) });
  const testAccessRw = accessRwHandler({ pagesRw });

  return mutantImplementation('reader-unpin-domain-span', profile, {
    process: (proc) => {
      owed.clear();
      patchOwn(proc, 'unpinUserPage', (original) => {
        unpin = original;
        return (pfn: number) => {
          const n = owed.get(pfn) ?? 0;
          if (n > 0) {
            // The second unpin of a page the reader already unpinned (the kernel's refcount underflow): dropped.
            if (n === 1) owed.delete(pfn);
            else owed.set(pfn, n - 1);
            return;
          }
          original(pfn);
        };
      });
    },
    handlers: {
      IOMMU_IOAS_COPY: (ucmd) => copy(ucmd),
      IOMMU_TEST_CMD: (ucmd, original) => (ucmd.cmd.num('op') === IOMMU_TEST_OP_ACCESS_RW ? testAccessRw(ucmd) : original(ucmd)),
    },
  });
}
