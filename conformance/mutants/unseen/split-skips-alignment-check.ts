/**
 * split-skips-alignment-check (drivers/iommu/iommufd/io_pagetable.c
 * iopt_area_split, reached through iopt_cut_iova by a VFIO type1 v1
 * VFIO_IOMMU_UNMAP_DMA: the compat IOAS with large pages disabled,
 * VFIO_SET_IOMMU(VFIO_TYPE1_IOMMU) or IOMMU_OPTION HUGE_PAGES 0).
 *
 * iommufd_vfio_unmap_dma cuts the areas at `iova - 1` and
 * `iova + size - 1` without looking at the alignment of the user's range;
 * it is iopt_area_split that refuses a cut the IOAS cannot represent
 * (6.12 and 7.3 alike):
 *
 *     if (iova == start_iova || iova == last_iova)
 *             return 0;
 *
 *     if (!pages || area->prevent_access)
 *             return -EBUSY;
 *     ...
 *     if (new_start & (alignment - 1) ||
 *         iopt_area_start_byte(area, new_start) & (alignment - 1))
 *             return -EINVAL;
 *
 *     lhs = iopt_area_alloc();
 *     ...
 *
 * THE FAULT drops that test (the areas being cut were inserted aligned, and
 * VFIO type1 itself refuses an unaligned unmap before anything else, so it
 * reads as a redundant re-check). A type1 v1 unmap whose start or end is not
 * a multiple of the IOAS's iova_alignment (PAGE_SIZE there, as large pages
 * are off) now splits the area at a byte inside a page, where the kernel
 * answers -EINVAL and changes nothing:
 *   - the unmap succeeds and reports (size) the bytes of the sub-page halves
 *     it removed; the IOAS is left with areas that start or end inside a
 *     page (a later unmap of the original range finds them, a map of the
 *     freed range fails the alignment check ...);
 *   - with a domain attached, the removed piece is unmapped from it with an
 *     iova/length that is not a multiple of the domain's smallest page:
 *     the 6.12 iommu core (__iommu_unmap) refuses it (returns 0;
 *     iommu_unmap_nofail only WARNs), so the IOVAs stay mapped in the page
 *     table while iopt_area_unfill_domains drops the pins of the piece's
 *     pages. The device can still DMA through the unmapped IOVAs into pages
 *     that are no longer pinned (nor charged) — freed memory. (7.3's
 *     generic_pt unmap_range tears down whole leaves instead, taking part of
 *     the neighbouring half's mapping with it.) A cut that happens to be
 *     aligned to the domain's smallest page (the mock's 2 KiB) unmaps
 *     cleanly, and the two halves then share a pinned page.
 *
 * Applied as: VFIO_IOMMU_UNMAP_DMA runs the reference's
 * (iommufd_vfio_unmap_dma, _unmap.ts's copy, over the reference's
 * iopt_unmap_iova_range) with an iopt_cut_iova / iopt_area_split that has
 * no alignment test; every other step is the reference's.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { EBUSY, EINVAL, ENOMEM } from '../../../impl/lib/errno.ts';
import { IoptArea, type IoPagetable } from '../../../impl/iommufd/iommufd_private.ts';
import { ioptAreaIterFirst, ioptAreaStartByte, ioptUnmapIovaRange } from '../../../impl/iommufd/io_pagetable.ts';
import { ioptGetPagesRef, ioptPagesHold } from '../../../impl/iommufd/pages.ts';
import { mutantImplementation } from '../harness.ts';
import { vfioUnmapDmaWith } from './_unmap.ts';

/** iopt_area_split, as the reference's, without the alignment test. */
function areaSplit(iopt: IoPagetable, area: IoptArea, iova: bigint): number {
  const newStart = iova + 1n;
  if (iova === area.start || iova === area.last) return 0;
  if (!area.pages || area.preventAccess) return -EBUSY;
  // THE FAULT: no `new_start & (alignment - 1) || iopt_area_start_byte(area, new_start) & (alignment - 1)` -> -EINVAL.
  if (iopt.faults.shouldFail()) return -ENOMEM; // lhs
  if (iopt.faults.shouldFail()) return -ENOMEM; // rhs
  if (area.numAccesses) return -EINVAL;
  if (area.filled && !iopt.disableLargePages) return -EINVAL;
  const lhs = new IoptArea(iopt, area.start, newStart - 1n, area.startByte, area.iommuProt);
  const rhs = new IoptArea(iopt, newStart, area.last, ioptAreaStartByte(area, newStart), area.iommuProt);
  lhs.pages = area.pages;
  rhs.pages = area.pages;
  ioptGetPagesRef(area.pages);
  if (area.filled) {
    lhs.filled = true;
    rhs.filled = true;
    // A page shared by both halves (a cut inside a page) takes one more hold.
    if (lhs.lastIndex === rhs.firstIndex) {
      const held = ioptPagesHold(area.pages, rhs.firstIndex, rhs.firstIndex);
      if (held.errno) throw new Error('re-holding a pinned page cannot fail');
    }
  }
  const i = iopt.areas.indexOf(area);
  iopt.areas.splice(i, 1, lhs, rhs);
  return 0;
}

/** iopt_cut_iova over the faulty split. */
function cutIova(iopt: IoPagetable, iovas: readonly bigint[]): number {
  for (const iova of iovas) {
    const area = ioptAreaIterFirst(iopt, iova, iova);
    if (!area) continue;
    const rc = areaSplit(iopt, area, iova);
    if (rc) return rc;
  }
  return 0;
}

export function createAdapter(profile: Profile): Implementation {
  const unmapDma = vfioUnmapDmaWith((iopt, start, last, unmapped) => ioptUnmapIovaRange(iopt, start, last, unmapped), cutIova);
  return mutantImplementation('split-skips-alignment-check', profile, {
    compat: { VFIO_IOMMU_UNMAP_DMA: (ctx, d, arg) => unmapDma(ctx, d, arg) },
  });
}
