/**
 * Fault J2 — unmap-tail-check-missing.
 *
 * iopt_unmap_iova_range (io_pagetable.c) refuses to cut an area: an area
 * that starts before the range or ends after it makes the unmap fail with
 * ENOENT (`if (area_first < start || area_last > last)`). The fault keeps
 * only the first half of that test: an UNMAP whose range ends inside an
 * area removes the whole area (IOVAs past `iova + length - 1` included),
 * unpins it, and reports the area's full length as unmapped (a length larger
 * than the caller asked for). The class: an IOPT range check that tests one
 * boundary only.
 *
 * Only IOMMU_IOAS_UNMAP is replaced: a copy of iommufd_ioas_unmap calling a
 * copy of iopt_unmap_iova_range with the one changed condition. (VFIO type1
 * compat and IOAS destruction keep the reference's walk.)
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation } from '../harness.ts';
import { EBUSY, EDEADLOCK, EINVAL, ENOENT, EOVERFLOW } from '../../../impl/lib/errno.ts';
import { iommufdGetIoas, iommufdUcmdRespond, ULONG_MAX, type IoPagetable, type Ucmd } from '../../../impl/iommufd/iommufd_private.ts';
import { ioptAreaIterFirst } from '../../../impl/iommufd/io_pagetable.ts';
import { ioptAreaUnfillDomains, ioptPutPages } from '../../../impl/iommufd/pages.ts';

/** iopt_unmap_iova_range with the fault. */
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
    if (areaFirst < start) return -ENOENT; // THE FAULT: `|| area_last > last` is missing
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
    iopt.areas.splice(iopt.areas.indexOf(area), 1);
    ioptPutPages(pages);
    unmapped.bytes += areaLast - areaFirst + 1n;
    if (areaLast >= last) return 0;
    start = areaLast + 1n;
  }
}

/** iommufd_ioas_unmap (unchanged but for the walk it calls). */
function unmap(ucmd: Ucmd): number {
  const { cmd, ctx } = ucmd;
  const r = iommufdGetIoas(ctx, cmd.num('ioas_id'));
  if (r.errno) return r.errno;
  const iopt = r.value!.iopt;
  const iova = cmd.big('iova');
  const length = cmd.big('length');
  const unmapped = { bytes: 0n };
  let rc: number;
  if (iova === 0n && length === ULONG_MAX) {
    rc = unmapRange(iopt, 0n, ULONG_MAX, unmapped);
    if (rc) return rc;
  } else {
    if (iova >= ULONG_MAX || length >= ULONG_MAX) return -EOVERFLOW;
    if (!length) return -EINVAL;
    const last = iova + length - 1n;
    if (last > ULONG_MAX) return -EOVERFLOW;
    rc = unmapRange(iopt, iova, last, unmapped);
    if (rc) return rc;
    if (!unmapped.bytes) return -ENOENT;
  }
  cmd.set('length', unmapped.bytes);
  return iommufdUcmdRespond(ucmd);
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('unmap-tail-check-missing', profile, { handlers: { IOMMU_IOAS_UNMAP: (ucmd) => unmap(ucmd) } });
}
