/**
 * area-iova-last-one-past-page (drivers/iommu/iommufd/pages.c
 * iopt_area_index_to_iova_last, through iopt_area_unmap_domain_range, reached
 * from __iopt_area_unfill_domain / iopt_area_unpin_domain when an area
 * leaves its storage domain: IOMMU_IOAS_UNMAP, VFIO_IOMMU_UNMAP_DMA).
 *
 * The kernel's helper gives the last IOVA byte of a page index of an area:
 *
 *     static unsigned long iopt_area_index_to_iova_last(struct iopt_area *area,
 *                                                       unsigned long index)
 *     {
 *             ...
 *             if (index == iopt_area_last_index(area))
 *                     return iopt_area_last_iova(area);
 *             return iopt_area_iova(area) - area->page_offset +
 *                    (index - iopt_area_index(area) + 1) * PAGE_SIZE - 1;
 *     }
 *
 * and iopt_area_unmap_domain_range() unmaps
 * `iopt_area_index_to_iova_last(area, last_index) - start_iova + 1` bytes.
 * The fault loses the closing `- 1` (an inclusive/exclusive slip): for any
 * index but the area's last the "last" IOVA is the first byte of the next
 * page, the length one byte too long, and iommu_unmap() refuses a length
 * that is not a multiple of the IO page size (pr_err "unaligned", returns 0;
 * iommu_unmap_nofail only WARNs). Nothing is unmapped.
 *
 * Every whole-area unmap names the area's last index (the special case), so
 * the plain map/unmap path never reaches the bad arithmetic. It is reached
 * when an area is unfilled piece by piece: its pages are still used by
 * another area of the same iopt_pages filled into a domain (IOMMU_IOAS_COPY
 * into the same IOAS or another one with a domain) or by an access, so
 * __iopt_area_unfill_domain walks holes and used spans, and each hole is
 * unmapped up to where iopt_area_unpin_domain's read-ahead meets a PFN
 * discontinuity — a range ending before the area's last page whenever a
 * still-used page follows the hole and the frames are not contiguous up to
 * the end (ordinary 4 KiB anonymous memory). That unmap silently does
 * nothing, and the hole's pages are then unpinned (batch_unpin): "unpin must
 * follow unmap" is broken. Only the residual unmap after the walk (which
 * names the last index) still works.
 *
 * Consequence: MAP a buffer at A with a device attached, COPY its tail to B,
 * UNMAP A: the command succeeds and A is gone from the IOAS, but the storage
 * domain still translates the head of A to the head pages, which are no
 * longer pinned — the device keeps reading and writing them, and once the
 * user frees the memory it reaches whoever gets the frames. A later MAP at A
 * fails in the domain (the IOVA is occupied).
 *
 * Applied on IOMMU_IOAS_UNMAP and VFIO_IOMMU_UNMAP_DMA through copies of the
 * reference's unmap walk (_unmap.ts), whose area teardown
 * (iopt_area_unfill_domains) replays the kernel's unmap calls for the
 * storage domain (the IOAS's first domain, as the kernel's xa index 0):
 * the double span over the other holders of each page (a page is used
 * elsewhere when another area or access holds it, holders > 1), the batch
 * with its read-ahead and carry, the unmaps with the faulty last IOVA and
 * iommu_unmap's alignment refusal. The other domains are unmapped whole as
 * the kernel does, and the pins are released as the reference releases them.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation } from '../harness.ts';
import { PAGE_SIZE, type IoPagetable, type IoptArea, type IoptDomain, type IoptPages } from '../../../impl/iommufd/iommufd_private.ts';
import { ioptAreaUnmapDomain, ioptPagesRelease } from '../../../impl/iommufd/pages.ts';
import { ioasUnmapWith, unmapRange, vfioUnmapDmaWith, type RangeUnmap, type Unfill } from './_unmap.ts';

const P = BigInt(PAGE_SIZE);

/** iopt_area_index_to_iova */
function indexToIova(area: IoptArea, index: number): bigint {
  const rel = index - area.firstIndex;
  if (rel === 0) return area.start;
  return area.start - BigInt(area.pageOffset) + BigInt(rel) * P;
}

/** iopt_area_index_to_iova_last, with THE FAULT: the trailing `- 1` is lost. */
function indexToIovaLast(area: IoptArea, index: number): bigint {
  if (index === area.lastIndex) return area.last;
  return area.start - BigInt(area.pageOffset) + BigInt(index - area.firstIndex + 1) * P; // - 1 lost
}

/** iopt_area_unmap_domain_range → iommu_unmap_nofail → iommu_unmap (which refuses an unaligned iova or size). */
function unmapDomainRange(area: IoptArea, domain: IoptDomain, startIndex: number, lastIndex: number): void {
  const iova = indexToIova(area, startIndex);
  const size = indexToIovaLast(area, lastIndex) - iova + 1n;
  const min = domain.pgsizeBitmap & -domain.pgsizeBitmap;
  if (min === 0n || (iova | size) & (min - 1n)) return; // "unaligned: iova 0x%lx size 0x%zx min_pagesz 0x%x": 0 unmapped
  domain.unmap(iova, Number(size));
}

/**
 * __iopt_area_unfill_domain over [first, last] of `area` in `domain` (the
 * area already out of domains_itree): the unmap calls it makes. `used(i)`:
 * another holder (domains_itree or access_itree) covers index i.
 */
function unfillStorage(area: IoptArea, pages: IoptPages, domain: IoptDomain, used: (i: number) => boolean): void {
  const first = area.firstIndex;
  const realLast = area.lastIndex;
  const pfn = (i: number): number => pages.pinnedPfn(i)!;
  // The pfn batch, flat (contiguous runs merge; it never fills at these sizes).
  let batch: number[] = [];
  let unmappedEnd = first;

  // iopt_area_unpin_domain over the hole [s, l]
  const unpinDomain = (s: number, l: number): void => {
    let start = s;
    while (start <= l) {
      let batchLast: number;
      if (unmappedEnd <= l) {
        // batch_from_domain(batch, domain, area, max(start_index, unmapped_end_index), last_index)
        for (let i = Math.max(start, unmappedEnd); i <= l; i++) batch.push(pfn(i));
        batchLast = start + batch.length - 1;
      } else batchLast = l;
      // batch_from_domain_continue: read ahead while the last run stays contiguous.
      if (batchLast === l && l !== realLast) {
        for (let i = l + 1; i <= realLast; i++) {
          if (batch.length === 0 || pfn(i) !== batch[batch.length - 1]! + 1) break;
          batch.push(pfn(i));
        }
      }
      if (unmappedEnd <= batchLast) {
        unmapDomainRange(area, domain, unmappedEnd, start + batch.length - 1);
        unmappedEnd = start + batch.length;
      }
      // batch_unpin of [start, batchLast]: the reference's release below unpins the same pages.
      start = batchLast + 1;
      // batch_clear_carry
      const keep = unmappedEnd - batchLast - 1;
      batch = keep > 0 ? batch.slice(batch.length - keep) : [];
    }
  };

  // interval_tree_for_each_double_span(&span, &pages->domains_itree, &pages->access_itree, ...)
  for (let i = first; i <= realLast; ) {
    const u = used(i);
    let j = i;
    while (j < realLast && used(j + 1) === u) j++;
    if (u) batch = batch.slice(Math.min(batch.length, j - i + 1)); // batch_skip_carry
    else unpinDomain(i, j);
    i = j + 1;
  }
  // The residual unmap (names the last index: unaffected).
  if (unmappedEnd !== realLast + 1) unmapDomainRange(area, domain, unmappedEnd, realLast);
}

/** iopt_area_unfill_domains */
const unfill: Unfill = (iopt: IoPagetable, area: IoptArea, pages: IoptPages) => {
  if (!area.filled) return;
  const storage = iopt.domains[0];
  for (const domain of iopt.domains) if (domain !== storage) ioptAreaUnmapDomain(area, domain);
  if (storage) {
    // This area's own hold is one per index; any other means domains_itree/access_itree cover it.
    const used = (i: number): boolean => (pages.pinned.get(i)?.holders ?? 0) > 1;
    let shared = false;
    for (let i = area.firstIndex; i <= area.lastIndex && !shared; i++) shared = used(i);
    if (shared) unfillStorage(area, pages, storage, used);
    else ioptAreaUnmapDomain(area, storage); // one hole: iopt_area_unmap_domain_range(first, last), exact
  }
  ioptPagesRelease(pages, area.firstIndex, area.lastIndex);
  area.filled = false;
};

const walk: RangeUnmap = (iopt, start, last, unmapped) => unmapRange(iopt, start, last, unmapped, unfill);

export function createAdapter(profile: Profile): Implementation {
  const vfioUnmap = vfioUnmapDmaWith(walk);
  return mutantImplementation('area-iova-last-one-past-page', profile, {
    handlers: { IOMMU_IOAS_UNMAP: ioasUnmapWith(walk) },
    compat: { VFIO_IOMMU_UNMAP_DMA: (ctx, d, arg) => vfioUnmap(ctx, d, arg) },
  });
}
