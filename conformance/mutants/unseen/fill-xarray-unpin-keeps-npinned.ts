/**
 * C8.7 — fill-xarray-unpin-keeps-npinned (drivers/iommu/iommufd/pages.c
 * iopt_pages_fill_xarray, its failure unwind after
 * pfn_reader_user_update_pinned).
 *
 * An in-kernel access pin (iommufd_access_pin_pages, and the slow
 * iommufd_access_rw path) pins the holes of the range, adds them to
 * pages->npinned, then charges npinned - last_npinned to locked_vm. When the
 * charge is refused (RLIMIT_MEMLOCK: -ENOMEM) the pins it just took must be
 * dropped and npinned lowered again (iopt_pages_err_unpin /
 * batch_unpin → iopt_pages_sub_npinned). The fault's unwind unpins the pages
 * with unpin_user_pages() directly, without iopt_pages_sub_npinned(): the
 * pages are gone but pages->npinned still counts them. From then on the
 * iopt_pages' accounting is off by the refused pages: the next charge bills
 * them again to locked_vm and pinned_vm (a later pin can fail ENOMEM well
 * within the limit), and unpinning everything returns that many pages
 * short, so locked_vm never comes back to zero.
 *
 * Applied as: on every iopt_pages an area of the mutant's IOAS points at, a
 * decrease of npinned that comes straight after an increase (nothing pinned
 * or unpinned in the pages' xarray between the two: the failed charge's
 * unwind) is dropped.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import type { IommufdIoas, IoptArea, IoptPages } from '../../../impl/iommufd/iommufd_private.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';

export function createAdapter(profile: Profile): Implementation {
  const patchedPages = new WeakSet<IoptPages>();
  const patchedAreas = new WeakSet<IoptArea>();

  const patchPages = (pages: IoptPages): void => {
    if (patchedPages.has(pages)) return;
    patchedPages.add(pages);
    let version = 0;
    patchOwn(pages.pinned, 'set', (set) => (k, v) => {
      version++;
      return set(k, v);
    });
    patchOwn(pages.pinned, 'delete', (del) => (k) => {
      version++;
      return del(k);
    });
    let value = pages.npinned;
    let incVersion = -1;
    let incValue = -1;
    Object.defineProperty(pages, 'npinned', {
      get: () => value,
      set: (v: number) => {
        if (v > value) {
          incVersion = version;
          incValue = v;
        } else if (v < value && value === incValue && version === incVersion) {
          // THE FAULT: the unwind after a refused charge unpins without iopt_pages_sub_npinned().
          incVersion = -1;
          return;
        }
        value = v;
      },
      configurable: true,
      enumerable: true,
    });
  };

  const patchArea = (area: IoptArea): void => {
    if (patchedAreas.has(area)) return;
    patchedAreas.add(area);
    let pages = area.pages;
    if (pages) patchPages(pages);
    Object.defineProperty(area, 'pages', {
      get: () => pages,
      set: (p: IoptPages | null) => {
        if (p) patchPages(p);
        pages = p;
      },
      configurable: true,
      enumerable: true,
    });
  };

  return mutantImplementation('fill-xarray-unpin-keeps-npinned', profile, {
    object: (obj) => {
      if (obj?.type !== 'IOAS') return;
      const areas = (obj as IommufdIoas).iopt.areas;
      for (const a of areas) patchArea(a);
      patchOwn(areas, 'splice', (splice) => (start: number, deleteCount?: number, ...items: IoptArea[]) => {
        for (const a of items) patchArea(a);
        return splice(start, deleteCount as number, ...items);
      });
    },
  });
}
