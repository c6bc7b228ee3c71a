/**
 * unmap-head-check-missing (drivers/iommu/iommufd/io_pagetable.c
 * iopt_unmap_iova_range, reached from IOMMU_IOAS_UNMAP: iommufd_ioas_unmap →
 * iopt_unmap_iova → iopt_unmap_iova_range). 6.12 and 7.3 alike.
 *
 * iommufd never splits an area on unmap: an area that sticks out of the
 * requested range on either side stops the walk with -ENOENT:
 *
 *     if (area_first < start || area_last > last) {
 *             rc = -ENOENT;
 *             goto out_unlock_iova;
 *     }
 *
 * THE FAULT: the head term `area_first < start` is lost (only the tail is
 * checked). iopt_area_iter_first(iopt, start, last) returns an area that
 * merely intersects the range, so an UNMAP whose iova falls inside an area
 * (not at its first byte) and whose end covers the area's end now removes
 * the whole area, including the bytes below `iova` that the user asked to
 * keep, and reports them in `length`. What a user sees: IOMMU_IOAS_UNMAP of
 * [area_start + 4K, area_last] succeeds (length = the whole area) where the
 * kernel answers ENOENT and leaves the mapping; the head of the mapping is
 * gone from the IOAS and from every attached domain (DMA there faults).
 *
 * Applied as: the IOMMU_IOAS_UNMAP handler is a copy of iommufd_ioas_unmap
 * over a copy of iopt_unmap_iova_range with the one term lost; the unmap-all
 * form (0, U64_MAX) walks from 0 and is unaffected. VFIO type1 compat unmap
 * (vfio_compat.c) keeps the reference's walk.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation } from '../harness.ts';
import { EBUSY, EDEADLOCK, EINVAL, ENOENT, EOVERFLOW } from '../../../impl/lib/errno.ts';
import { iommufdGetIoas, iommufdUcmdRespond, type IoPagetable, type Ucmd, ULONG_MAX } from '../../../impl/iommufd/iommufd_private.ts';
import { ioptAreaIterFirst, ioptUnmapAll } from '../../../impl/iommufd/io_pagetable.ts';
import { ioptAreaUnfillDomains, ioptPutPages } from '../../../impl/iommufd/pages.ts';

/** iopt_unmap_iova_range with the fault. */
function unmapIovaRange(iopt: IoPagetable, start: bigint, last: bigint, unmapped: { bytes: bigint }): number {
  let tries = 0;
  unmapped.bytes = 0n;
  for (;;) {
    const area = ioptAreaIterFirst(iopt, start, last);
    if (!area) return 0;
    const areaFirst = area.start;
    const areaLast = area.last;
    if (!area.pages) return -EBUSY;
    if (area.numLocks) return -EBUSY;
    // THE FAULT: `areaFirst < start ||` is gone.
    if (areaLast > last) return -ENOENT;
    if (areaFirst !== start) tries = 0;
    if (area.numAccesses) {
      start = areaFirst;
      area.preventAccess = true;
      for (const access of [...iopt.accessList.values()]) access.notifyUnmap(areaFirst, area.length);
      tries++;
      if (tries > 100) return -EDEADLOCK;
      continue;
    }
    const pages = area.pages;
    area.pages = null;
    ioptAreaUnfillDomains(iopt, area, pages);
    const i = iopt.areas.indexOf(area);
    if (i >= 0) iopt.areas.splice(i, 1); // iopt_abort_area
    ioptPutPages(pages);
    unmapped.bytes += areaLast - areaFirst + 1n;
    if (areaLast >= last) return 0;
    start = areaLast + 1n;
  }
}

/** iommufd_ioas_unmap over the faulty walk (iopt_unmap_iova inlined). */
function ioasUnmap(ucmd: Ucmd): number {
  const { cmd, ctx } = ucmd;
  const r = iommufdGetIoas(ctx, cmd.num('ioas_id'));
  if (r.errno) return r.errno;
  const iopt = r.value!.iopt;
  const iova = cmd.big('iova');
  const length = cmd.big('length');
  const unmapped = { bytes: 0n };
  let rc: number;
  if (iova === 0n && length === ULONG_MAX) {
    rc = ioptUnmapAll(iopt, unmapped);
    if (rc) return rc;
  } else {
    if (iova >= ULONG_MAX || length >= ULONG_MAX) return -EOVERFLOW;
    if (!length) return -EINVAL;
    const last = iova + length - 1n;
    if (last > ULONG_MAX) return -EOVERFLOW;
    rc = unmapIovaRange(iopt, iova, last, unmapped);
    if (rc) return rc;
    if (!unmapped.bytes) return -ENOENT;
  }
  cmd.set('length', unmapped.bytes);
  return iommufdUcmdRespond(ucmd);
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('unmap-head-check-missing', profile, { handlers: { IOMMU_IOAS_UNMAP: (ucmd) => ioasUnmap(ucmd) } });
}
