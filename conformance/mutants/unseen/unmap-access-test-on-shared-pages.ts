/**
 * unmap-access-test-on-shared-pages (drivers/iommu/iommufd/io_pagetable.c
 * iopt_unmap_iova_range, reached from IOMMU_IOAS_UNMAP, the VFIO type1 compat
 * VFIO_IOMMU_UNMAP_DMA and iommufd_ioas_destroy's iopt_unmap_all).
 *
 * An area that in-kernel accesses (an mdev-style driver, the selftest's
 * access object) have pinned cannot be torn down under them: the unmap walk
 * marks it, tells the IOAS's accesses to let go of its IOVA range and retries.
 * Whether an area is pinned that way is the area's own count, which
 * iopt_area_add_access / iopt_area_remove_access keep for the area the access
 * went through:
 *
 *     /*
 *      * num_accesses writers must hold the iova_rwsem too, so we can
 *      * safely read it under the write side of the iovam_rwsem
 *      * without the pages->mutex.
 *      *\/
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
 *
 * The fault asks the iopt_pages instead of the area — its access_itree, over
 * the area's page indexes — as a rework that "trusts the interval tree, not a
 * counter read without pages->mutex" would:
 *
 *     if (interval_tree_iter_first(&area->pages->access_itree,
 *                                  iopt_area_index(area),
 *                                  iopt_area_last_index(area))) {
 *
 * For an iopt_pages behind a single area the two tests agree. But
 * IOMMU_IOAS_COPY makes new areas over the source's iopt_pages (in another
 * IOAS, or elsewhere in the same one), and access_itree holds the pins made
 * through every one of them. An access that pinned pages through the copy
 * now makes the *other* area look pinned: its unmap notifies this IOAS's
 * accesses about an IOVA range none of them pinned (or the IOAS has no access
 * at all), nothing lets go, and after 100 retries the walk gives up.
 *
 * Why it takes several commands and two objects: a MAP, a COPY of it (two
 * areas sharing one iopt_pages), an access pin through one of them
 * (IOMMU_TEST_OP_ACCESS_PAGES, possibly an access of the other IOAS), then an
 * unmap of the other one. Each command's own answer is right until the last.
 *
 * Consequence for a user: IOMMU_IOAS_UNMAP (VFIO_IOMMU_UNMAP_DMA) of a mapping
 * nothing pins fails with EDEADLOCK (and a kernel WARN) for as long as some
 * access anywhere holds a copy of it; the areas below it in the range are
 * already gone, the area and the ones after it stay mapped in every domain —
 * the devices keep DMA access to memory the user is taking back — and the
 * area is left marked prevent_access, so later access pins and access reads
 * or writes through it fail with EINVAL instead of working. Closing the
 * IOAS WARNs (iopt_unmap_all fails) and leaks its remaining areas.
 *
 * Applied as: IOMMU_IOAS_UNMAP, VFIO_IOMMU_UNMAP_DMA (_unmap.ts's handlers)
 * and the IOAS's destruction walk through _unmap.ts's copy of the reference's
 * iopt_unmap_iova_range whose "is this area pinned by an access" test reads
 * the area's pages' access ranges (iopt_pages_access nodes, whichever area
 * they were made through) that meet the area's page indexes.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';
import { ENOENT, errnoName } from '../../../impl/lib/errno.ts';
import { ULONG_MAX, type IommufdIoas, type IoPagetable, type IoptArea } from '../../../impl/iommufd/iommufd_private.ts';
import { ioptDestroyTable } from '../../../impl/iommufd/io_pagetable.ts';
import { ioptAreaUnfillDomains } from '../../../impl/iommufd/pages.ts';
import { ioasUnmapWith, REFUSES_CUT, unmapRange as unmapRangeWith, vfioUnmapDmaWith } from './_unmap.ts';

/** THE FAULT: interval_tree_iter_first(&area->pages->access_itree, iopt_area_index(area), iopt_area_last_index(area)). */
function accessItreeMeets(area: IoptArea): boolean {
  const pages = area.pages!;
  const first = area.firstIndex;
  const last = area.lastIndex;
  return pages.accesses.some((a) => a.start <= last && a.last >= first);
}

/** iopt_unmap_iova_range with the faulty access test. */
const unmapRange = (iopt: IoPagetable, start: bigint, last: bigint, unmapped: { bytes: bigint }): number => unmapRangeWith(iopt, start, last, unmapped, ioptAreaUnfillDomains, REFUSES_CUT, accessItreeMeets);

export function createAdapter(profile: Profile): Implementation {
  const vfioUnmap = vfioUnmapDmaWith(unmapRange);
  return mutantImplementation('unmap-access-test-on-shared-pages', profile, {
    handlers: { IOMMU_IOAS_UNMAP: ioasUnmapWith(unmapRange) },
    compat: { VFIO_IOMMU_UNMAP_DMA: (ctx, d, arg) => vfioUnmap(ctx, d, arg) },
    // iommufd_ioas_destroy: iopt_unmap_all through the same walk; WARN_ON(rc && rc != -ENOENT), then iopt_destroy_table.
    object: (obj, ctx) => {
      if (obj.type !== 'IOAS') return;
      const ioas = obj as IommufdIoas;
      patchOwn(ioas, 'destroy', () => () => {
        const rc = unmapRange(ioas.iopt, 0n, ULONG_MAX, { bytes: 0n });
        if (rc && rc !== -ENOENT) ctx.warnings.push(`iommufd_ioas_destroy: iopt_unmap_all of IOAS ${ioas.id} failed (${errnoName(rc)})`);
        ioptDestroyTable(ioas.iopt);
      });
    },
  });
}
