/**
 * unmap-access-retry-recount (drivers/iommu/iommufd/io_pagetable.c
 * iopt_unmap_iova_range, reached from IOMMU_IOAS_UNMAP and the VFIO type1
 * compat VFIO_IOMMU_UNMAP_DMA).
 *
 * An area that in-kernel accesses have pinned (an mdev / emulated device, the
 * selftest's access object) cannot be torn down while they hold it: the walk
 * marks it, drops its locks, asks every access of the IOAS to let go of the
 * range, and then retries from that area, keeping what it has counted so far
 * (unmapped_bytes is the function's local, the retry a goto):
 *
 *     if (area->num_accesses) {
 *             size_t length = iopt_area_length(area);
 *
 *             start = area_first;
 *             area->prevent_access = true;
 *             up_write(&iopt->iova_rwsem);
 *             up_read(&iopt->domains_rwsem);
 *
 *             iommufd_access_notify_unmap(iopt, area_first, length);
 *             /* Something is not responding to unmap requests. *\/
 *             tries++;
 *             if (WARN_ON(tries > 100)) {
 *                     rc = -EDEADLOCK;
 *                     goto out_unmapped;
 *             }
 *             goto again;
 *     }
 *     ...
 * out_unmapped:
 *     if (unmapped)
 *             *unmapped = unmapped_bytes;
 *
 * The fault is the "cleanup" that replaces the backwards goto by retrying
 * the unmap of the rest of the range:
 *
 *             iommufd_access_notify_unmap(iopt, area_first, length);
 *             return iopt_unmap_iova_range(iopt, area_first, last, unmapped);
 *
 * The retry writes its own count to *unmapped, so the bytes of every area
 * the first pass already removed (those below the accessed area) are lost
 * from the answer (and the tries bound is gone with its counter: a driver
 * that never unpins now recurses instead of failing with EDEADLOCK).
 *
 * Consequence: with an access holding pins in a mapping, one IOMMU_IOAS_UNMAP
 * over that mapping and others below it removes them all but answers a
 * length that counts only the accessed mapping and those after it
 * (VFIO_IOMMU_UNMAP_DMA the same in `size`): userspace is told part of the
 * range is still mapped, and a VMM that tracks its guest's DMA mappings
 * from the answer (or retries the rest, which now fails with ENOENT) goes
 * wrong. Nothing differs when the first area of the range is the accessed
 * one, when no access pins anything, or with a single area.
 *
 * Applied as: IOMMU_IOAS_UNMAP and VFIO_IOMMU_UNMAP_DMA are served by the
 * shared copies of iommufd_ioas_unmap / iommufd_vfio_unmap_dma (_unmap.ts)
 * over a copy of the reference's walk whose access retry is a fresh call
 * (bounded at 100 nested retries with EDEADLOCK, where the kernel would
 * overflow its stack).
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { EBUSY, EDEADLOCK, ENOENT } from '../../../impl/lib/errno.ts';
import type { IoPagetable } from '../../../impl/iommufd/iommufd_private.ts';
import { ioptAreaIterFirst } from '../../../impl/iommufd/io_pagetable.ts';
import { ioptAreaUnfillDomains, ioptPutPages } from '../../../impl/iommufd/pages.ts';
import { mutantImplementation } from '../harness.ts';
import { ioasUnmapWith, vfioUnmapDmaWith, type RangeUnmap } from './_unmap.ts';

/** iopt_unmap_iova_range whose access retry is a new call (`depth` only bounds the model's recursion). */
function walkFrom(iopt: IoPagetable, first: bigint, last: bigint, unmapped: { bytes: bigint }, depth: number): number {
  let start = first;
  unmapped.bytes = 0n;
  for (;;) {
    const area = ioptAreaIterFirst(iopt, start, last);
    if (!area) return 0;
    const areaFirst = area.start;
    const areaLast = area.last;
    if (!area.pages) return -EBUSY;
    if (area.numLocks) return -EBUSY;
    if (areaFirst < start || areaLast > last) return -ENOENT;
    if (area.numAccesses) {
      area.preventAccess = true;
      for (const access of [...iopt.accessList.values()]) access.notifyUnmap(areaFirst, area.length);
      if (depth >= 100) return -EDEADLOCK;
      // THE FAULT: `goto again` became a fresh call, which overwrites *unmapped with its own count.
      return walkFrom(iopt, areaFirst, last, unmapped, depth + 1);
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

const walk: RangeUnmap = (iopt, start, last, unmapped) => walkFrom(iopt, start, last, unmapped, 0);

export function createAdapter(profile: Profile): Implementation {
  const vfioUnmap = vfioUnmapDmaWith(walk);
  return mutantImplementation('unmap-access-retry-recount', profile, {
    handlers: { IOMMU_IOAS_UNMAP: ioasUnmapWith(walk) },
    compat: { VFIO_IOMMU_UNMAP_DMA: (ctx, d, arg) => vfioUnmap(ctx, d, arg) },
  });
}
