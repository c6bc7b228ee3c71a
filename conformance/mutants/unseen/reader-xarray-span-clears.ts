/**
 * reader-xarray-span-clears (drivers/iommu/iommufd/pages.c
 * pfn_reader_fill_span, the reader behind iopt_area_fill_domain (a domain
 * joining an IOAS: a device attach, IOMMU_HWPT_ALLOC, MOCK_DOMAIN),
 * iopt_area_fill_domains (IOMMU_IOAS_COPY into an IOAS with a domain) and
 * iopt_pages_rw_slow (the slow access read/write path)).
 *
 * An iopt_pages is pinned once, whoever needs it. The PFNs an in-kernel
 * access has pinned live in the pages' xarray (pages->pinned_pfns) for as
 * long as an iopt_pages_access covers them; the pfn reader takes the span
 * access_itree covers from there instead of pinning again:
 *
 *     if (span->is_used == 1) {
 *             batch_from_xarray(&pfns->batch, &pfns->pages->pinned_pfns,
 *                               start_index, span->last_used);
 *             return 0;
 *     }
 *
 * Two lines below batch_from_xarray sits its sibling batch_from_xarray_clear,
 * same arguments, same loop, which also erases each entry it reads (the
 * unpin path's reader: iopt_pages_unpin_xarray). The fault calls it here (the
 * locked, clearing variant taken for "the xarray reader under
 * pages->mutex"):
 *
 *     if (span->is_used == 1) {
 *             batch_from_xarray_clear(&pfns->batch, &pfns->pages->pinned_pfns,
 *                                     start_index, span->last_used);
 *             return 0;
 *     }
 *
 * The read itself gives the right PFNs, so the command that reads is right.
 * But the access still holds those indexes and the xarray no longer has them:
 * the next reader of an emptied entry gets xa_to_value(NULL), PFN 0 (after a
 * WARN) — a later domain fill maps physical page 0 at the access's IOVAs, a
 * second slow access read copies page 0, an IOMMU_TEST_OP_ACCESS_PAGES of
 * the same range hands page 0 to the access (the selftest's check answers
 * EBADE) — and when the access lets go of indexes no domain holds any more,
 * iopt_pages_unfill_xarray unpins PFN 0 (a refcount underflow on page 0)
 * instead of the pages it pinned, which stay pinned for ever.
 *
 * Why it takes several commands and objects: an access must pin first, a
 * reader must then read through its span (a domain attached to the IOAS
 * while the access holds the pages, a COPY of them into an IOAS with a
 * domain, a slow multi-page access read), and only what comes after shows
 * it: a second reader, another pin of the range, or the access letting go
 * after the domain left. Without an access, or with the access released
 * while a domain holds the pages (the xarray entries are then cleared
 * anyway), nothing is wrong.
 *
 * Consequence for a user: a device attached to a second HWPT of the IOAS (or
 * of the IOAS a COPY went to) reaches physical page 0 instead of the guest's
 * pages at the IOVAs the emulated device holds; the emulated device's slow
 * reads and writes go to page 0; its pins of those pages leak (pin counts,
 * and the memory can never be freed) once the first domain has been
 * detached before it let go.
 *
 * Applied as: the xarray's content for an index an access covers is kept
 * beside the reference's pins (an emptied entry reads as PFN 0), and every
 * pfn reader over the index empties it: the domain fills of a domain being
 * added to an IOAS (between iopt_table_add_domain's first and last step,
 * area by area as the fill reaches them), the fill of IOMMU_IOAS_COPY's new
 * areas (a copy of the reference's handler, _copy.ts / _map.ts), and slow
 * multi-page IOMMU_TEST_OP_ACCESS_RW (_access_rw.ts). The frames those fills
 * map are the reader's (the domains' map calls get them), the reference's
 * reads of the pinned frame of such an index (an access pin, a slow read, the
 * unpin of its last hold) get the xarray's; every unpin of the selftest
 * access goes through a copy of iopt_area_remove_access that, for an index a
 * domain still holds, keeps what its storage domain (its IOAS's first)
 * maps. An unpin of a frame that has no pin left is the kernel's refcount
 * underflow: recorded as a warning, not applied.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { IOMMU_TEST_OP_ACCESS_RW } from '../../../spec/uapi/constants.ts';
import { PAGE_SIZE, type IommufdIoas, type IoPagetable, type IoptArea, type IoptDomain, type IoptPages, type PinnedPfn } from '../../../impl/iommufd/iommufd_private.ts';
import { ioptAreaFillDomains, ioptAreaRemoveAccess, ioptPagesRwAccess } from '../../../impl/iommufd/pages.ts';
import type { IommufdAccess } from '../../../impl/iommufd/access.ts';
import type { IommuDomain } from '../../../impl/platform/index.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';
import { accessPinPagesWith, accessUnpinHooks, accessUnpinPagesWith } from './_access_pages.ts';
import { accessRwHandler } from './_access_rw.ts';
import { copyHandler } from './_copy.ts';
import { fillDomainsPagesWith, mapPagesWith } from './_map.ts';

const P = BigInt(PAGE_SIZE);

/** The frames one fill of an area read for the indexes an access covers or the xarray view differs on: page index -> frame. */
interface FillTable {
  readonly area: IoptArea;
  readonly frames: Map<number, number>;
}

export function createAdapter(profile: Profile): Implementation {
  const iopts = new Set<IoPagetable>();
  /** Per iopt_pages: the frame the kernel reads for an index, where it is not the pinned one (0: an emptied entry). */
  const xarrays = new WeakMap<IoptPages, Map<number, number>>();
  const realGet = new WeakMap<IoptPages, (i: number) => PinnedPfn | undefined>();
  /** The fill of IOMMU_IOAS_COPY's new area in progress. */
  let copyFill: FillTable | null = null;
  /** A domain being added to an IOAS (iopt_table_add_domain in progress) and the areas its fill has read. */
  let adding: { readonly iopt: IoPagetable; readonly domain: IoptDomain; readonly tables: Map<IoptArea, FillTable> } | null = null;

  const realFrame = (pages: IoptPages, i: number): number | undefined => (realGet.get(pages) ?? ((j: number) => pages.pinned.get(j)))(i)?.pfn;

  /** The pages' xarray view, installing the reads through it on first use. */
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

  const accessCovers = (pages: IoptPages, i: number): boolean => pages.accesses.some((a) => a.start <= i && i <= a.last);

  /** iopt_pages_find_domain_area: a filled area of these pages holding index i (lowest start). */
  const domainArea = (pages: IoptPages, i: number): IoptArea | undefined => {
    let best: IoptArea | undefined;
    for (const iopt of iopts)
      for (const a of iopt.areas) if (a.pages === pages && a.filled && a.firstIndex <= i && i <= a.lastIndex && (!best || a.firstIndex < best.firstIndex)) best = a;
    return best;
  };

  /** The frame the area's storage domain (its IOAS's first) maps for index i; PA 0 reads back as "none". */
  const storageFrame = (area: IoptArea, i: number): number | undefined => {
    const d = area.iopt.domains[0] as IommuDomain | undefined;
    if (!d) return undefined;
    const iova = i === area.firstIndex ? area.start : area.start - BigInt(area.pageOffset) + BigInt(i - area.firstIndex) * P;
    const phys = d.iovaToPhys(Number(iova));
    return phys < 0 ? 0 : Math.floor(phys / PAGE_SIZE);
  };

  /**
   * One pfn reader pass over the area's indexes: what each index reads as (access span: the xarray, which
   * THE FAULT then empties; domain span: the storage domain; hole: a fresh pin, the reference's own).
   */
  const readArea = (area: IoptArea, pages: IoptPages): FillTable => {
    const frames = new Map<number, number>();
    const xa = xarrays.get(pages);
    for (let i = area.firstIndex; i <= area.lastIndex; i++) {
      const real = realFrame(pages, i);
      if (accessCovers(pages, i)) {
        const f = xa?.get(i) ?? real;
        if (f !== undefined) frames.set(i, f);
        xarrayOf(pages).set(i, 0); // THE FAULT: batch_from_xarray_clear — the entry is gone
      } else if (xa?.has(i)) frames.set(i, xa.get(i)!);
    }
    return { area, frames };
  };

  /** The area a fill's map call at `iova` belongs to, with the frames its reader got. */
  const fillOf = (d: IoptDomain, iova: bigint): FillTable | undefined => {
    if (copyFill && copyFill.area.start <= iova && iova <= copyFill.area.last) return copyFill;
    if (!adding || adding.domain !== d) return undefined;
    const area = adding.iopt.areas.find((a) => a.pages && a.start <= iova && iova <= a.last);
    if (!area) return undefined;
    let t = adding.tables.get(area);
    if (!t) {
      t = readArea(area, area.pages!);
      adding.tables.set(area, t);
    }
    return t;
  };

  /** iommu_map of a fill run with the frames its reader got (the run's own elsewhere). */
  const mapWithReaderFrames = (map: IoptDomain['map'], unmap: IoptDomain['unmap'], t: FillTable, iova: bigint, pa: number, size: number, prot: number): number => {
    const segs: { iova: bigint; pa: number; size: number }[] = [];
    for (let b = 0; b < size; ) {
      const cur = pa + b;
      const inPage = cur % PAGE_SIZE;
      const n = Math.min(PAGE_SIZE - inPage, size - b);
      const j = iova + BigInt(b);
      const index = Number((t.area.startByte + (j - t.area.start)) / P);
      const f = t.frames.get(index);
      const npa = f === undefined ? cur : f * PAGE_SIZE + inPage;
      const last = segs[segs.length - 1];
      if (last && last.pa + last.size === npa) last.size += n;
      else segs.push({ iova: j, pa: npa, size: n });
      b += n;
    }
    let mapped = 0;
    for (const s of segs) {
      const rc = map(s.iova, s.pa, s.size, prot);
      if (rc) {
        if (mapped) unmap(iova, mapped);
        return rc;
      }
      mapped += s.size;
    }
    return 0;
  };

  /** iopt_area_remove_access, then what iopt_pages_unfill_xarray leaves for indexes no access covers any more. */
  const areaRemoveAccess = (_access: IommufdAccess, area: IoptArea, start: number, last: number): void => {
    const pages = area.pages!;
    // An index nobody else holds is unpinned through the xarray's PFN (the reads go through it).
    ioptAreaRemoveAccess(area, start, last);
    const xa = xarrays.get(pages);
    if (!xa?.size) return;
    for (let i = start; i <= last; i++) {
      if (!xa.has(i) || accessCovers(pages, i)) continue;
      // Covered by a domain (clear_xarray): the index reads from the storage domain from now on.
      const d = domainArea(pages, i);
      const f = d ? storageFrame(d, i) : undefined;
      if (f === undefined || f === realFrame(pages, i)) xa.delete(i);
      else xa.set(i, f);
    }
  };

  /** iopt_area_fill_domains (COPY's new area) with its reader pass. */
  const copyAreaFill: typeof ioptAreaFillDomains = (iopt, area, pages) => {
    if (iopt.domains.length === 0) return 0;
    copyFill = readArea(area, pages);
    try {
      return ioptAreaFillDomains(iopt, area, pages);
    } finally {
      copyFill = null;
    }
  };

  /** iopt_pages_rw_access: a slow multi-page access read/write is a pfn reader pass too. */
  const pagesRw: typeof ioptPagesRwAccess = (pages, startByte, data, write, slowPath = false) => {
    const first = Math.floor(startByte / PAGE_SIZE);
    const last = Math.floor((startByte + data.length - 1) / PAGE_SIZE);
    const rc = ioptPagesRwAccess(pages, startByte, data, write, slowPath);
    if (!slowPath || first === last) return rc;
    // The reader read (and emptied) the access span up to where it stopped: the first hole it could not pin.
    for (let i = first; i <= last; i++) {
      if (rc && !pages.pinned.has(i)) break;
      if (accessCovers(pages, i)) xarrayOf(pages).set(i, 0);
    }
    return rc;
  };

  const accessHooks = accessUnpinHooks({
    pinPages: accessPinPagesWith({ removeAccess: areaRemoveAccess }),
    unpinPages: accessUnpinPagesWith(areaRemoveAccess),
  });
  const accessRw = accessRwHandler({ pagesRw });

  return mutantImplementation('reader-xarray-span-clears', profile, {
    handlers: {
      IOMMU_TEST_CMD: (ucmd, original) => (ucmd.cmd.num('op') === IOMMU_TEST_OP_ACCESS_RW ? accessRw(ucmd) : accessHooks.handlers!.IOMMU_TEST_CMD!(ucmd, original)),
      IOMMU_IOAS_COPY: copyHandler({ mapPages: mapPagesWith({ fillDomains: fillDomainsPagesWith(copyAreaFill) }) }),
    },
    object: (obj, ctx, env) => {
      accessHooks.object?.(obj, ctx, env);
      if (obj.type !== 'IOAS') return;
      const iopt = (obj as IommufdIoas).iopt;
      iopts.add(iopt);
      // iopt_table_add_domain: `includes` is its first step (the EEXIST test), `push` its last (the domain stored).
      patchOwn(iopt.domains, 'includes', (includes) => (d: IoptDomain) => {
        const found = includes(d);
        if (!found) adding = { iopt, domain: d, tables: new Map() };
        return found;
      });
      patchOwn(iopt.domains, 'push', (push) => (...ds: IoptDomain[]) => {
        if (adding?.iopt === iopt) adding = null;
        return push(...ds);
      });
    },
    process: (proc, env) => {
      accessHooks.process?.(proc, env);
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
    domain: (d) => {
      const unmap = d.unmap.bind(d);
      patchOwn(d, 'map', (map) => (iova: bigint, pa: number, size: number, prot: number) => {
        const t = fillOf(d, iova);
        return t && t.frames.size ? mapWithReaderFrames(map, unmap, t, iova, pa, size, prot) : map(iova, pa, size, prot);
      });
    },
    request: (req, next) => {
      adding = null;
      copyFill = null;
      try {
        return next(req);
      } finally {
        adding = null;
        copyFill = null;
      }
    },
  });
}
