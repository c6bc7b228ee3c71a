/**
 * unmap-notify-before-range-check (drivers/iommu/iommufd/io_pagetable.c
 * iopt_unmap_iova_range).
 *
 * For each area in [start, last] the kernel first refuses an area the
 * request would cut, and only then, for an area in-kernel accesses have
 * pinned, marks it prevent_access, tells the accesses to unpin and restarts
 * the walk at the area's first IOVA:
 *     if (area_first < start || area_last > last) {
 *             rc = -ENOENT;
 *             goto out_unlock_iova;
 *     }
 *     if (area_first != start)
 *             tries = 0;
 *     if (area->num_accesses) {
 *             size_t length = iopt_area_length(area);
 *             start = area_first;
 *             area->prevent_access = true;
 *             ...
 *             iommufd_access_notify_unmap(iopt, area_first, length);
 *             ...
 *             goto again;
 *     }
 * The fault has the num_accesses block ahead of the range check (a
 * reordering of the loop body, e.g. when the access notification was moved
 * next to the num_locks check). Two things go wrong, both only when an
 * access holds pages of an area the request only partly covers:
 *   - `start = area_first` now runs before the range test, so after the
 *     accesses have unpinned and the walk restarts, `area_first < start`
 *     can no longer fail: an unmap that begins inside the area removes the
 *     whole area (from every domain too) and reports its full length,
 *     where the kernel answers ENOENT and removes nothing;
 *   - when the request also ends inside the area, the unmap still fails
 *     (ENOENT), but only after the accesses were told to unpin everything
 *     in it and the area was marked prevent_access: a failed command has
 *     revoked the access's pins, and every later ACCESS_PAGES / ACCESS_RW
 *     of that area answers EINVAL for as long as it stays mapped.
 * Without an access pinning the area nothing changes.
 *
 * Applied to IOMMU_IOAS_UNMAP (the whole-space unmap of IOMMU_IOAS_UNMAP
 * (0, U64_MAX) and of iommufd_ioas_destroy covers every area, so the order
 * does not matter there).
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { EBUSY, EDEADLOCK, ENOENT } from '../../../impl/lib/errno.ts';
import type { IoPagetable } from '../../../impl/iommufd/iommufd_private.ts';
import { ioptAreaIterFirst } from '../../../impl/iommufd/io_pagetable.ts';
import { ioptAreaUnfillDomains, ioptPutPages } from '../../../impl/iommufd/pages.ts';
import { mutantImplementation } from '../harness.ts';
import { ioasUnmapWith } from './_unmap.ts';

/** iopt_unmap_iova_range with the access block ahead of the range check. */
function unmapRange(iopt: IoPagetable, start: bigint, last: bigint, unmapped: { bytes: bigint }): number {
  let tries = 0;
  unmapped.bytes = 0n;
  for (;;) {
    const area = ioptAreaIterFirst(iopt, start, last);
    if (!area) return 0;
    const areaFirst = area.start;
    const areaLast = area.last;
    if (!area.pages) return -EBUSY;
    if (area.numLocks) return -EBUSY;
    if (areaFirst !== start) tries = 0;
    // THE FAULT: the accesses are dealt with (and start moved back) before the range is checked.
    if (area.numAccesses) {
      start = areaFirst;
      area.preventAccess = true;
      for (const access of [...iopt.accessList.values()]) access.notifyUnmap(areaFirst, area.length);
      tries++;
      if (tries > 100) return -EDEADLOCK;
      continue;
    }
    if (areaFirst < start || areaLast > last) return -ENOENT;
    const pages = area.pages;
    area.pages = null;
    ioptAreaUnfillDomains(iopt, area, pages);
    iopt.areas.splice(iopt.areas.indexOf(area), 1);
    ioptPutPages(pages);
    unmapped.bytes += areaLast - areaFirst + 1n;
    if (areaLast >= last) return 0;
    start = areaLast + 1n;
  }
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('unmap-notify-before-range-check', profile, {
    handlers: { IOMMU_IOAS_UNMAP: ioasUnmapWith(unmapRange) },
  });
}
