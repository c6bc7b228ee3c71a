/**
 * access-fill-from-domain-area-start (drivers/iommu/iommufd/pages.c
 * raw_pages_from_domain, reached from iopt_pages_fill_from_domain ←
 * iopt_pages_fill_xarray ← iopt_area_add_access ← iommufd_access_pin_pages:
 * IOMMU_TEST_OP_ACCESS_PAGES, an mdev driver's vfio_pin_pages).
 *
 * An iopt_pages is pinned once, whoever needs it. When an in-kernel access
 * pins a range that a domain already holds (the pages' domains_itree: an area
 * of these pages filled into some domain, in this IOAS or, after
 * IOMMU_IOAS_COPY, another one), iopt_pages_fill_xarray does not pin again: it
 * reads the PFNs back from that area's storage domain and records them in
 * the pages' xarray, which from then on is where every reader of those
 * indexes takes them from (a later access of the range, a domain attached
 * later, an IOMMU_IOAS_COPY into an IOAS with a domain, the slow access read
 * and write path) and what is unpinned when the access goes after the domain:
 *
 *     static struct page **raw_pages_from_domain(struct iommu_domain *domain,
 *                                                struct iopt_area *area,
 *                                                unsigned long start_index,
 *                                                unsigned long last_index,
 *                                                struct page **out_pages)
 *     {
 *             unsigned int page_offset = 0;
 *             unsigned long iova;
 *             phys_addr_t phys;
 *
 *             iova = iopt_area_index_to_iova(area, start_index);
 *             if (start_index == iopt_area_index(area))
 *                     page_offset = area->page_offset;
 *             while (start_index <= last_index) {
 *                     phys = iommu_iova_to_phys(domain, iova) - page_offset;
 *                     *(out_pages++) = pfn_to_page(PHYS_PFN(phys));
 *                     iova += PAGE_SIZE - page_offset;
 *                     page_offset = 0;
 *                     start_index++;
 *             }
 *             return out_pages;
 *     }
 *
 * The fault starts the walk at the area's first IOVA (as if the caller always
 * read an area from its beginning, which batch_from_domain's first caller
 * does):
 *
 *             iova = iopt_area_iova(area);
 *
 * iopt_pages_fill_from_domain passes the area that holds start_index
 * (iopt_pages_find_domain_area), which usually begins before it. The access
 * then gets, for page index start_index + k, the PFN of the area's page
 * iopt_area_index(area) + k: pages of the same mapping, shifted down by
 * however far the access range starts into the area. They are stored in the
 * xarray as the pins of those indexes.
 *
 * Why it takes several commands and objects: a domain must hold the pages
 * first (a device attached, a HWPT, a mock domain on the IOAS — or on another
 * IOAS the mapping was copied to), then an access pins a range that does not
 * start at the first page of the domain's area. An access on an IOAS without
 * a domain, or one pinning from an area's start, gets the right pages.
 *
 * Consequence for a user: IOMMU_TEST_OP_ACCESS_PAGES with its uptr check
 * fails with EBADE (the selftest sees the wrong pages); a driver (uptr 0)
 * reads and writes the wrong pages of the guest's mapping. While the access
 * holds them every other reader takes the wrong PFNs from the xarray: a
 * device attached afterwards (a new HWPT, a mock domain, a VFIO cdev attach)
 * or an IOAS_COPY into an IOAS with a domain maps the access's IOVAs to other
 * pages of the buffer, so the device reads and writes the wrong memory; the
 * slow access read path copies the wrong pages. When the domain goes before
 * the access, the access's release unpins the wrong PFNs: the pages it
 * really held stay pinned for ever (leaked pins, VmPin never back to zero)
 * and pages it never pinned lose a pin (a refcount underflow; a page the
 * user unmapped meanwhile goes back to the allocator while a device may
 * still map it).
 *
 * Applied as: IOMMU_TEST_OP_ACCESS_PAGES pins through a copy of
 * iommufd_access_pin_pages whose iopt_area_add_access, for a new access
 * range, computes the PFNs the faulty raw_pages_from_domain reads for the
 * indexes only domains hold (the lowest-starting filled area of the pages
 * holding each, its storage domain taken as its IOAS's first domain, read
 * with iommu_iova_to_phys), and records them as the xarray's PFNs of those
 * indexes: every later read of the pinned frame of such an index (a domain
 * fill, a COPY's fill, an access pin or slow read) gets them, and the unpin
 * of the index's last hold unpins them. Every unpin of the selftest access
 * goes through a copy of iopt_area_remove_access that clears the entries
 * iopt_pages_unfill_xarray clears (an index a domain still holds keeps the
 * PFN its storage domain maps). A change of storage domain afterwards
 * (several domains, the holding area unmapped) is not followed. An unpin of
 * a frame that has no pin left is the kernel's refcount underflow: recorded
 * as a warning, not applied.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { EPERM } from '../../../impl/lib/errno.ts';
import { PAGE_SIZE, type IommufdIoas, type IoPagetable, type IoptArea, type IoptPages, type PinnedPfn } from '../../../impl/iommufd/iommufd_private.ts';
import { ioptAreaAddAccess, ioptAreaRemoveAccess } from '../../../impl/iommufd/pages.ts';
import { err, ok, type Result } from '../../../impl/iommufd/object.ts';
import type { IommufdAccess } from '../../../impl/iommufd/access.ts';
import type { IommuDomain } from '../../../impl/platform/index.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';
import { accessPinPagesWith, accessUnpinHooks, accessUnpinPagesWith } from './_access_pages.ts';

const P = BigInt(PAGE_SIZE);

export function createAdapter(profile: Profile): Implementation {
  /** Every io_pagetable of the process (IOAS_COPY shares an iopt_pages between them). */
  const iopts = new Set<IoPagetable>();
  /** The xarray PFNs that differ from the frame the reference pinned for an index, per iopt_pages. */
  const xarrays = new WeakMap<IoptPages, Map<number, number>>();
  /** The reference's own pinned.get of each instrumented iopt_pages. */
  const realGet = new WeakMap<IoptPages, (i: number) => PinnedPfn | undefined>();
  /** Order in which areas were first seen filled (domains_itree order among equal starts). */
  const fillSeq = new WeakMap<IoptArea, number>();
  let seq = 0;

  const realFrame = (pages: IoptPages, i: number): number | undefined => (realGet.get(pages) ?? ((j: number) => pages.pinned.get(j)))(i)?.pfn;

  /** The pages' xarray overrides, installing the reads through them on first use. */
  const xarrayOf = (pages: IoptPages): Map<number, number> => {
    const m = xarrays.get(pages);
    if (m) return m;
    const xa = new Map<number, number>();
    xarrays.set(pages, xa);
    patchOwn(pages.pinned, 'get', (get) => {
      realGet.set(pages, get);
      return (i: number) => {
        const rec = get(i);
        const o = xa.get(i);
        if (!rec || o === undefined) return rec;
        return {
          get pfn() {
            return o;
          },
          get holders() {
            return rec.holders;
          },
          set holders(v: number) {
            rec.holders = v;
          },
        };
      };
    });
    patchOwn(pages.pinned, 'delete', (del) => (i: number) => {
      xa.delete(i);
      return del(i);
    });
    return xa;
  };

  /** access_itree covers index i. */
  const accessCovers = (pages: IoptPages, i: number): boolean => pages.accesses.some((a) => a.start <= i && i <= a.last);

  /** iopt_pages_find_domain_area: the filled area of these pages holding index i, lowest start first. */
  const domainArea = (pages: IoptPages, i: number): IoptArea | undefined => {
    let best: IoptArea | undefined;
    for (const iopt of iopts) {
      for (const a of iopt.areas) {
        if (a.pages !== pages || !a.filled || a.firstIndex > i || a.lastIndex < i) continue;
        if (!fillSeq.has(a)) fillSeq.set(a, seq++);
        if (!best || a.firstIndex < best.firstIndex || (a.firstIndex === best.firstIndex && fillSeq.get(a)! < fillSeq.get(best)!)) best = a;
      }
    }
    return best;
  };

  /** area->storage_domain, taken as the first domain of the area's IOAS. */
  const storageOf = (area: IoptArea): IommuDomain | undefined => area.iopt.domains[0] as IommuDomain | undefined;

  /** The frame the storage domain maps for index i of the area (iopt_area_index_to_iova, the right walk). */
  const storageFrame = (area: IoptArea, i: number): number | undefined => {
    const d = storageOf(area);
    if (!d) return undefined;
    const iova = i === area.firstIndex ? area.start : area.start - BigInt(area.pageOffset) + BigInt(i - area.firstIndex) * P;
    const phys = d.iovaToPhys(Number(iova));
    return phys < 0 ? undefined : Math.floor(phys / PAGE_SIZE);
  };

  /** iopt_pages_fill_from_domain over [s, e] with the faulty raw_pages_from_domain: index -> PFN read. */
  const fillFromDomain = (pages: IoptPages, s: number, e: number, out: Map<number, number>): void => {
    while (s <= e) {
      const area = domainArea(pages, s);
      if (!area) return; // WARN_ON(!area): cannot happen, s is in domains_itree
      const domainLast = Math.min(area.lastIndex, e);
      const domain = storageOf(area);
      // THE FAULT: iova = iopt_area_iova(area), not iopt_area_index_to_iova(area, start_index).
      let iova = area.start;
      let pageOffset = s === area.firstIndex ? area.pageOffset : 0;
      for (let i = s; i <= domainLast; i++) {
        const phys = domain ? domain.iovaToPhys(Number(iova)) : -1;
        if (phys >= 0) out.set(i, Math.floor((phys - pageOffset) / PAGE_SIZE));
        iova += P - BigInt(pageOffset);
        pageOffset = 0;
      }
      s = domainLast + 1;
    }
  };

  /** iopt_area_add_access with the faulty fill of the domains' span. */
  const areaAddAccess = (area: IoptArea, start: number, last: number, write: boolean): Result<number[]> => {
    const pages = area.pages!;
    if (write && !pages.writable) return err(-EPERM);
    // An exact range already pinned: iopt_pages_fill_from_xarray (the reference reads the xarray's frames).
    if (pages.accesses.some((a) => a.start === start && a.last === last)) return ioptAreaAddAccess(area, start, last, write);
    // What iopt_pages_fill_xarray reads from a domain: the indexes only domains_itree covers.
    const read = new Map<number, number>();
    for (let i = start; i <= last; ) {
      if (accessCovers(pages, i) || !domainArea(pages, i)) {
        i++;
        continue;
      }
      let e = i;
      while (e + 1 <= last && !accessCovers(pages, e + 1) && domainArea(pages, e + 1)) e++;
      fillFromDomain(pages, i, e, read);
      i = e + 1;
    }
    const r = ioptAreaAddAccess(area, start, last, write);
    if (r.errno || read.size === 0) return r;
    const xa = xarrayOf(pages);
    const frames = r.value!.slice();
    for (const [i, pfn] of read) {
      if (pfn === realFrame(pages, i)) xa.delete(i);
      else xa.set(i, pfn); // pages_to_xarray of what the domain gave
      frames[i - start] = pfn;
    }
    return ok(frames);
  };

  /** iopt_area_remove_access, then iopt_pages_unfill_xarray's clear_xarray for what no access covers any more. */
  const areaRemoveAccess = (_access: IommufdAccess, area: IoptArea, start: number, last: number): void => {
    const pages = area.pages!;
    // The release of an index nobody else holds unpins the xarray's PFN (the reads go through it).
    ioptAreaRemoveAccess(area, start, last);
    const xa = xarrays.get(pages);
    if (!xa?.size) return;
    for (let i = start; i <= last; i++) {
      if (!xa.has(i) || accessCovers(pages, i)) continue;
      // Covered by a domain: the xarray entry is cleared, the index is read from the storage domain again.
      const d = domainArea(pages, i);
      const f = d ? storageFrame(d, i) : undefined;
      if (f === undefined || f === realFrame(pages, i)) xa.delete(i);
      else xa.set(i, f);
    }
  };

  const hooks = accessUnpinHooks({
    pinPages: accessPinPagesWith({ addAccess: areaAddAccess, removeAccess: areaRemoveAccess }),
    unpinPages: accessUnpinPagesWith(areaRemoveAccess),
  });

  return mutantImplementation('access-fill-from-domain-area-start', profile, {
    ...hooks,
    object: (obj, ctx, env) => {
      hooks.object?.(obj, ctx, env);
      if (obj.type === 'IOAS') iopts.add((obj as IommufdIoas).iopt);
    },
    process: (proc, env) => {
      hooks.process?.(proc, env);
      iopts.clear();
      // unpin_user_page of a page with no pin left: the kernel's refcount underflow (a WARN), not applied here.
      patchOwn(proc, 'unpinUserPage', (unpin) => (pfn: number) => {
        if (proc.pinCountOfPfn(pfn) <= 0) {
          proc.warnings.push(`unpin_user_page: frame ${pfn} has no pin (refcount underflow)`);
          return;
        }
        unpin(pfn);
      });
    },
  });
}
