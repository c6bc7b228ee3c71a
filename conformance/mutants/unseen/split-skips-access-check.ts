/**
 * split-skips-access-check (drivers/iommu/iommufd/io_pagetable.c
 * iopt_area_split, reached through iopt_cut_iova by a VFIO type1 v1
 * VFIO_IOMMU_UNMAP_DMA that cuts an area: the compat IOAS with large pages
 * disabled, VFIO_SET_IOMMU(VFIO_TYPE1_IOMMU) or IOMMU_OPTION HUGE_PAGES 0).
 *
 * area->num_accesses counts the in-kernel access pins (mdev / emulated
 * devices, the selftest access) on an area; iopt_unmap_iova_range uses it
 * to decide whether it must tell the accesses to unpin before the area
 * goes. A split makes two brand new (kzalloc'd) areas, so it refuses an
 * area with accesses:
 *
 *     mutex_lock(&pages->mutex);
 *     (comment: Splitting is not permitted if an access exists, we don't
 *      track enough information to split existing accesses.)
 *     if (area->num_accesses) {
 *             rc = -EINVAL;
 *             goto err_unlock;
 *     }
 *
 * THE FAULT drops that test (the access ranges live on the iopt_pages, by
 * page index, and a split does not move the pages — so it looked
 * unnecessary). The split succeeds, and lhs and rhs start with
 * num_accesses = 0 while the access's iopt_pages_access ranges still pin
 * their pages.
 *
 * Why it needs several commands and two objects: an access (one object)
 * must hold a pin on an area (of the IOAS, the other) before a type1 v1
 * partial unmap cuts that area; the damage shows in the unmap of the half
 * that holds the pin and in every later release of the pin.
 *   - The half's unmap (the very VFIO_IOMMU_UNMAP_DMA that cut it, or a
 *     later one) sees num_accesses == 0: it does not notify the access,
 *     unmaps the IOVA range and frees the area, while the access still has
 *     the pages pinned and keeps using them (an emulated device keeps
 *     reading and writing memory the user has unmapped from the IOAS).
 *   - Releasing the pin afterwards (IOMMU_TEST_OP_DESTROY_ACCESS_PAGES,
 *     closing the access) finds no area at those IOVAs — or, for a pin that
 *     spanned the cut, no exact range in either half — so
 *     iopt_area_remove_access WARNs and nothing is unpinned: the pages stay
 *     pinned and charged (pin counts, VmPin, RLIMIT_MEMLOCK) after every
 *     file is closed. A pin entirely inside the half that stays drops that
 *     half's num_accesses below zero (u32 wrap): its later unmap notifies
 *     forever and fails with EDEADLOCK.
 *
 * Applied as: VFIO_IOMMU_UNMAP_DMA, when it will cut areas (large pages
 * disabled, not UNMAP_ALL), runs the reference's with the access count of
 * each area a cut point falls strictly inside hidden during the call (so
 * iopt_area_split proceeds, and its halves start from 0 as the kernel's
 * do); an area that was not split gets its count back. The selftest
 * access's unpin paths (DESTROY_ACCESS_PAGES, its unmap callback, its
 * file's release, the ACCESS_PAGES unwind: accessUnpinHooks in
 * _access_pages.ts) go through an iommufd_access_unpin_pages whose
 * iopt_area_remove_access WARNs and returns where no exact range matches,
 * as the kernel's does.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { VFIO_DMA_UNMAP_FLAG_ALL } from '../../../spec/uapi/constants.ts';
import type { IommufdIoas, IoptArea } from '../../../impl/iommufd/iommufd_private.ts';
import { ioptAreaRemoveAccess } from '../../../impl/iommufd/pages.ts';
import type { IommufdAccess } from '../../../impl/iommufd/access.ts';
import { layoutOf, UcmdStruct } from '../../../impl/iommufd/ucmd.ts';
import { mutantImplementation } from '../harness.ts';
import { accessUnpinHooks, accessUnpinPagesWith } from './_access_pages.ts';

/** iopt_area_remove_access: WARN_ON(!access) and return when no exact range matches. */
function areaRemoveAccess(access: IommufdAccess, area: IoptArea, start: number, last: number): void {
  if (!area.pages!.accesses.some((a) => a.start === start && a.last === last)) {
    access.ctx.warnings.push(`iopt_area_remove_access: WARN_ON(!access): no access range [${start}, ${last}]`);
    return;
  }
  ioptAreaRemoveAccess(area, start, last);
}

/** iommufd_access_unpin_pages (the kernel's, WARNs included). */
const accessUnpinPages = accessUnpinPagesWith(areaRemoveAccess);

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('split-skips-access-check', profile, {
    compat: {
      VFIO_IOMMU_UNMAP_DMA: (ctx, d, _arg, original) => {
        const ioas = ctx.vfioIoas as IommufdIoas | null;
        if (!ioas || ioas.type !== 'IOAS' || !ioas.iopt.disableLargePages) return original();
        const unmap = new UcmdStruct(layoutOf(d.command.struct ?? '', ctx.profile), d.bytes);
        if (unmap.num('flags') & VFIO_DMA_UNMAP_FLAG_ALL) return original();
        const iova = unmap.big('iova');
        const size = unmap.big('size');
        const iopt = ioas.iopt;
        const cuts = [BigInt.asUintN(64, iova + size - 1n), BigInt.asUintN(64, iova - 1n)].slice(0, iova ? 2 : 1);
        // THE FAULT: iopt_area_split no longer refuses an area with accesses.
        const hidden = new Map<IoptArea, number>();
        for (const cut of cuts) {
          const area = iopt.areas.find((a) => a.start <= cut && a.last >= cut);
          if (!area || cut === area.start || cut === area.last || !area.numAccesses || hidden.has(area)) continue;
          hidden.set(area, area.numAccesses);
          area.numAccesses = 0;
        }
        try {
          return original();
        } finally {
          // An area that was not split (the unmap failed before reaching it) keeps its count.
          for (const [area, n] of hidden) if (iopt.areas.includes(area)) area.numAccesses = n;
        }
      },
    },
    ...accessUnpinHooks({ unpinPages: accessUnpinPages }),
  });
}
