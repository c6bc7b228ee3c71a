/**
 * unfill-ignores-access-itree (drivers/iommu/iommufd/pages.c
 * __iopt_area_unfill_domain, called by iopt_area_unfill_domain(s) when an
 * area leaves its IOAS's last domain: IOMMU_IOAS_UNMAP, the IOAS's
 * destruction, the removal of the IOAS's last domain — iopt_unfill_domain
 * from iopt_table_remove_domain when the last HWPT of the IOAS goes, e.g. on
 * device detach/close; 6.12 and 7.3).
 *
 * A PFN of an iopt_pages is pinned once for all its users: the areas whose
 * storage domain holds it (pages->domains_itree) and the in-kernel accesses
 * whose pins keep it in pages->pinned_pfns (pages->access_itree). When one
 * area is torn down the kernel unmaps it and unpins only what neither kind
 * of user still needs:
 *
 *     interval_tree_for_each_double_span(&span, &pages->domains_itree,
 *                                        &pages->access_itree, start_index,
 *                                        last_index) {
 *             if (span.is_used) {
 *                     batch_skip_carry(&batch,
 *                                      span.last_used - span.start_used + 1);
 *                     continue;
 *             }
 *             iopt_area_unpin_domain(&batch, area, pages, domain,
 *                                    span.start_hole, span.last_hole,
 *                                    &unmapped_end_index, last_index);
 *     }
 *
 * THE FAULT: the walk covers only pages->domains_itree —
 *
 *     interval_tree_for_each_span(&span, &pages->domains_itree,
 *                                 start_index, last_index) {
 *             if (!span.is_hole) { batch_skip_carry(...); continue; }
 *             iopt_area_unpin_domain(..., span.start_hole, span.last_hole, ...);
 *     }
 *
 * written as if a domain-backed area's PFNs could only be shared with other
 * areas (IOMMU_IOAS_COPY), forgetting that an access may have pinned them too
 * (iopt_pages_fill_xarray copies them from the domain into pinned_pfns
 * without a pin of its own, or the domain fill read them from the xarray).
 * Every page of the area no other area holds is unpinned, access or not.
 *
 * Only visible through two users of the same pages over several commands:
 * an access pins pages of an area that a domain also maps (the access of the
 * IOAS whose device is then detached, or an access of another IOAS over an
 * IOMMU_IOAS_COPY of the area which is then unmapped in its source IOAS).
 * After the detach/unmap the access still holds the pages (its item, the
 * PFNs it handed to its driver, the xarray) but they are no longer pinned:
 * pin counts drop while the access holds them; once the process unmaps the
 * memory the frames return to the allocator while the driver keeps reading
 * and writing them (use after free). When the access later unpins, the
 * kernel unpins a second time (a pin count underflow, or another holder's
 * pin stolen), and the pinned/locked accounting goes negative twice over.
 *
 * Applied as: the area teardown of IOMMU_IOAS_UNMAP, VFIO_IOMMU_UNMAP_DMA and
 * IOAS destruction (a copy of the reference's unmap walk, _unmap.ts), and
 * HWPT destruction (iommufd_hwpt_paging_destroy, _hwpt_destroy.ts, over a
 * copy of iopt_table_remove_domain) first unpin (unpin_user_page) every page
 * of the area that accesses hold and no other area does, then release as
 * the reference does. The iopt_pages keeps its npinned and charge until its
 * last holder goes (not modelled: the kernel's second npinned decrement); an
 * unpin of a frame no longer pinned (the kernel's underflow) is dropped, an
 * unpin of a frame pinned again meanwhile takes that pin. The fill-failure
 * unwind inside iopt_table_add_domain keeps the reference's teardown.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';
import { ioptAreaUnfillDomain, ioptAreaUnfillDomains } from '../../../impl/iommufd/pages.ts';
import { ioptDestroyTable, ioptRemoveReservedIova } from '../../../impl/iommufd/io_pagetable.ts';
import { ENOENT } from '../../../impl/lib/errno.ts';
import { PAGE_SIZE, ULONG_MAX, type IommufdHwptPaging, type IommufdIoas, type IoPagetable, type IoptArea, type IoptDomain, type IoptPages } from '../../../impl/iommufd/iommufd_private.ts';
import { unmapHandler, unmapRange, vfioUnmapDmaWith, type Unfill } from './_unmap.ts';
import { hwptPagingDestroy } from './_hwpt_destroy.ts';

/** iopt_calculate_iova_alignment, the reference's (after a domain left; never raises). */
function calculateIovaAlignment(iopt: IoPagetable): void {
  let align = iopt.disableLargePages ? PAGE_SIZE : 1;
  for (const d of iopt.domains) align = Math.max(align, Number(d.pgsizeBitmap & -d.pgsizeBitmap));
  for (const a of iopt.accessList.values()) align = Math.max(align, a.iovaAlignment);
  iopt.iovaAlignment = align;
}

export function createAdapter(profile: Profile): Implementation {
  /** Frames the fault unpinned while accesses held them: their later unpin may find no pin left. */
  const unpinnedEarly = new Set<number>();
  let unpin: (pfn: number) => void = () => {};

  /** The faulty span walk: unpin every page of the area that no other area holds (accesses not consulted). */
  const unpinAccessHeld = (area: IoptArea, pages: IoptPages): void => {
    if (!area.filled) return;
    for (let i = area.firstIndex; i <= area.lastIndex; i++) {
      const cur = pages.pinned.get(i);
      if (!cur) continue;
      const accessNodes = pages.accesses.filter((a) => a.start <= i && i <= a.last).length;
      if (accessNodes === 0) continue; // the reference unpins it itself
      if (cur.holders - accessNodes - 1 > 0) continue; // another area (domains_itree) holds it
      // THE FAULT: held by an access (access_itree), unpinned anyway.
      unpinnedEarly.add(cur.pfn);
      unpin(cur.pfn);
    }
  };

  /** iopt_area_unfill_domains with the faulty __iopt_area_unfill_domain. */
  const unfill: Unfill = (iopt, area, pages) => {
    unpinAccessHeld(area, pages);
    ioptAreaUnfillDomains(iopt, area, pages);
  };

  /** iopt_table_remove_domain -> iopt_unfill_domain, the last domain's teardown through the faulty walk. */
  const removeDomain = (iopt: IoPagetable, domain: IoptDomain): void => {
    const i = iopt.domains.indexOf(domain);
    if (i < 0) throw new Error('iopt_table_remove_domain: domain not in the table');
    iopt.domains.splice(i, 1);
    const last = iopt.domains.length === 0;
    for (const area of iopt.areas) {
      if (!area.pages) continue;
      if (last) unpinAccessHeld(area, area.pages);
      ioptAreaUnfillDomain(area, domain, last);
    }
    ioptRemoveReservedIova(iopt, domain);
    calculateIovaAlignment(iopt);
  };

  const walk = (iopt: IoPagetable, start: bigint, last: bigint, unmapped: { bytes: bigint }): number => unmapRange(iopt, start, last, unmapped, unfill);

  return mutantImplementation('unfill-ignores-access-itree', profile, {
    process: (proc) => {
      unpinnedEarly.clear();
      patchOwn(proc, 'unpinUserPage', (orig) => {
        unpin = (pfn: number) => {
          // unpin_user_page of a frame whose pin the fault already dropped: the kernel's underflow, dropped here.
          if (proc.pinCountOfPfn(pfn) === 0 && unpinnedEarly.has(pfn)) return;
          orig(pfn);
        };
        return unpin;
      });
    },
    handlers: { IOMMU_IOAS_UNMAP: unmapHandler(unfill) },
    compat: { VFIO_IOMMU_UNMAP_DMA: (ctx, d, arg) => vfioUnmapDmaWith(walk)(ctx, d, arg) },
    object: (obj, ctx) => {
      if (obj?.type === 'IOAS') {
        const ioas = obj as IommufdIoas;
        // iommufd_ioas_destroy: iopt_unmap_all through the same teardown, then the table.
        patchOwn(ioas, 'destroy', () => () => {
          const rc = walk(ioas.iopt, 0n, ULONG_MAX, { bytes: 0n });
          if (rc && rc !== -ENOENT) ctx.warnings.push(`iommufd_ioas_destroy: iopt_unmap_all of IOAS ${ioas.id} failed (${rc})`);
          ioptDestroyTable(ioas.iopt);
        });
      } else if (obj?.type === 'HWPT_PAGING') {
        const hwpt = obj as IommufdHwptPaging;
        patchOwn(hwpt, 'destroy', () => () => hwptPagingDestroy(hwpt, { removeDomain }));
      }
    },
  });
}
