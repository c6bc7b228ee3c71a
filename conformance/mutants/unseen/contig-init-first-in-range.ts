/**
 * contig-init-first-in-range (drivers/iommu/iommufd/io_pagetable.c,
 * iopt_area_contig_init — the first step of iopt_for_each_contig_area, used by
 * iopt_get_pages for IOMMU_IOAS_COPY and by iommufd_access_rw).
 *
 * The kernel starts the walk at the area that holds the first IOVA itself:
 *
 *     iter->cur_iova = iova;
 *     iter->last_iova = last_iova;
 *     iter->area = iopt_area_iter_first(iopt, iova, iova);
 *     if (!iter->area)
 *             return NULL;
 *
 * so a range whose first byte is in a hole yields no area and the callers
 * answer ENOENT (iopt_area_contig_done is false). iopt_area_contig_next looks
 * the following areas up over the remaining range, `iopt_area_iter_next(area,
 * cur_iova, last_iova)`, and then demands `cur_iova == iopt_area_iova(area)`.
 *
 * THE FAULT: the init is written like the next step, with the whole range:
 *
 *     iter->area = iopt_area_iter_first(iopt, iova, last_iova);
 *
 * and nothing checks that the area found starts at or before `iova`. When
 * [iova, last] begins in a hole and reaches into an area, the walk hands that
 * area out with cur_iova still at iova, below the area's first IOVA:
 * iopt_area_start_byte(area, cur_iova) goes back by the size of the hole
 * (unsigned: it wraps when the area starts fewer bytes into its pages than the
 * hole is long) and the piece's length covers the hole too.
 *
 *   - IOMMU_IOAS_COPY (iopt_get_pages): the new area's pages slice starts
 *     before the source area's. When the source area sits far enough into its
 *     iopt_pages (itself a copy of the middle of a mapping, as IOAS_COPY makes
 *     them), the destination IOAS gets a mapping of user memory the source
 *     IOAS never mapped: a device attached to it can DMA there (confinement).
 *     When the start byte wraps, iopt_insert_area's overflow checks refuse it
 *     (EOVERFLOW, after a WARN) instead of the kernel's ENOENT.
 *   - iommufd_access_rw: the bytes before the area in its pages — or, when the
 *     start byte wraps, the user memory just below the mapping (the fast path
 *     is copy_to/from_user at pages->uptr + start_byte) — are read or written
 *     for an IOVA range that starts outside every area.
 *
 * Applied to IOMMU_IOAS_COPY (iopt_get_pages, and an iopt_insert_area that
 * models the kernel's unsigned start byte) and IOMMU_TEST_OP_ACCESS_RW
 * (through _access_rw.ts). IOMMU_TEST_OP_ACCESS_PAGES keeps the reference's
 * walk: there the kernel's wrapped page index goes where its behaviour is not
 * defined (an inverted access_itree node).
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation } from '../harness.ts';
import { IOMMU_TEST_OP_ACCESS_RW } from '../../../spec/uapi/constants.ts';
import { IoptArea } from '../../../impl/iommufd/iommufd_private.ts';
import { ioptAreaIterFirst, type ioptAreaContig } from '../../../impl/iommufd/io_pagetable.ts';
import { copyHandler } from './_copy.ts';
import { getPagesWith } from './_get_pages.ts';
import { accessRwHandler } from './_access_rw.ts';
import { mapPagesWith } from './_map.ts';


/** iopt_for_each_contig_area with the faulty iopt_area_contig_init. */
const contig: typeof ioptAreaContig = (iopt, iova, last) => {
  const pieces: { area: IoptArea; cur: bigint }[] = [];
  // THE FAULT: iopt_area_iter_first(iopt, iova, last_iova) instead of (iopt, iova, iova).
  let area = ioptAreaIterFirst(iopt, iova, last);
  let cur = iova;
  while (area && area.pages) {
    pieces.push({ area, cur });
    if (last <= area.last) return { pieces, done: true };
    cur = area.last + 1n;
    const next = ioptAreaIterFirst(iopt, cur, last);
    if (!next || next.start !== cur) break;
    area = next;
  }
  return { pieces, done: false };
};

/** iopt_get_pages over the faulty walk. */
const getPages = getPagesWith({ contig });

/** iopt_map_pages with iopt_insert_area's bounds checked as the kernel's (start_byte an unsigned long: the reference's never sees one below 0). */
const mapPages = mapPagesWith({ checksPagesBounds: true });

const copy = copyHandler({ getPages, mapPages });
const accessRw = accessRwHandler({ contig });

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('contig-init-first-in-range', profile, {
    handlers: {
      IOMMU_IOAS_COPY: (ucmd) => copy(ucmd),
      IOMMU_TEST_CMD: (ucmd, original) => (ucmd.cmd.num('op') === IOMMU_TEST_OP_ACCESS_RW ? accessRw(ucmd) : original(ucmd)),
    },
  });
}
