/**
 * contig-next-cur-not-advanced (drivers/iommu/iommufd/io_pagetable.c
 * iopt_area_contig_next, the step of iopt_for_each_contig_area; reached from
 * IOMMU_IOAS_COPY → iopt_get_pages, and from the in-kernel access paths
 * iommufd_access_pin_pages (IOMMU_TEST_OP_ACCESS_PAGES, an mdev/vfio-ap/ccw
 * driver's vfio_pin_pages) and iommufd_access_rw (IOMMU_TEST_OP_ACCESS_RW,
 * vfio_dma_rw); 6.12 and 7.3).
 *
 * A range of IOVA may be served by several areas (several IOMMU_IOAS_MAPs or
 * COPYs placed back to back, the halves of a VFIO type1 partial unmap); the
 * contiguous-area iterator walks them, each step moving cur_iova just past
 * the current area and taking the next area of the range, which must start
 * exactly there (no hole) and be populated:
 *
 *     struct iopt_area *iopt_area_contig_next(struct iopt_area_contig_iter *iter)
 *     {
 *             unsigned long last_iova;
 *
 *             if (!iter->area)
 *                     return NULL;
 *             last_iova = iopt_area_last_iova(iter->area);
 *             if (iter->last_iova <= last_iova)
 *                     return NULL;
 *
 *             iter->cur_iova = last_iova + 1;
 *             iter->area = iopt_area_iter_next(iter->area, iter->cur_iova,
 *                                              iter->last_iova);
 *             if (!iter->area)
 *                     return NULL;
 *             if (iter->cur_iova != iopt_area_iova(iter->area) ||
 *                 !iter->area->pages) {
 *                     iter->area = NULL;
 *                     return NULL;
 *             }
 *             return iter->area;
 *     }
 *
 * THE FAULT loses the "+ 1" (last_iova is the area's inclusive last byte,
 * the local shadows the iterator's own last_iova field, and the two are
 * easy to take for "where the next one starts"):
 *
 *             iter->cur_iova = last_iova;
 *
 * iopt_area_iter_next() still finds the next area (it starts at last_iova +
 * 1, inside [last_iova, iter->last_iova]), but it never starts at cur_iova,
 * so every walk ends after its first area and iopt_area_contig_done() says
 * the range is not covered. Nothing changes for a range inside one area.
 *
 * Two objects: only a range that crosses from one area into the next is
 * refused. IOMMU_IOAS_COPY of such a range fails with ENOENT (nothing is
 * copied; a VMM that maps guest RAM in pieces cannot copy it into another
 * IOAS in one go); an access pin across the boundary fails with ENOENT (an
 * mdev driver cannot pin a guest buffer that straddles two DMA mappings:
 * its device I/O fails); an access read across it fails with ENOENT after
 * reading only the first area's bytes, and a write across it fails after
 * having written the first area's part of the data — the caller sees an
 * error for a transfer that was half done.
 *
 * Applied as: IOMMU_IOAS_COPY (the shared copy of iommufd_ioas_copy,
 * _copy.ts), IOMMU_TEST_OP_ACCESS_PAGES (_access_pages.ts) and
 * IOMMU_TEST_OP_ACCESS_RW (_access_rw.ts) walk the areas with the faulty
 * iterator; iommufd_access_unpin_pages keeps the
 * reference's (no pin can cross an area any more).
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { IOMMU_TEST_OP_ACCESS_PAGES, IOMMU_TEST_OP_ACCESS_RW } from '../../../spec/uapi/constants.ts';
import type { IoPagetable, IoptArea } from '../../../impl/iommufd/iommufd_private.ts';
import { mutantImplementation } from '../harness.ts';
import { accessPagesHandler, accessPinPagesWith } from './_access_pages.ts';
import { accessRwHandler } from './_access_rw.ts';
import { copyHandler } from './_copy.ts';
import { getPagesWith } from './_get_pages.ts';

/** iopt_for_each_contig_area with the faulty iopt_area_contig_next; done is iopt_area_contig_done. */
function contig(iopt: IoPagetable, iova: bigint, last: bigint): { pieces: { area: IoptArea; cur: bigint }[]; done: boolean } {
  const pieces: { area: IoptArea; cur: bigint }[] = [];
  // iopt_area_contig_init
  let area = iopt.areas.find((a) => a.start <= iova && a.last >= iova);
  if (!area || !area.pages) return { pieces, done: false };
  let cur = iova;
  for (;;) {
    pieces.push({ area, cur });
    if (last <= area.last) return { pieces, done: true };
    // THE FAULT: iter->cur_iova = last_iova; (not last_iova + 1)
    cur = area.last;
    const from = iopt.areas.indexOf(area);
    const next = iopt.areas.find((a, i) => i > from && a.start <= last && a.last >= cur); // iopt_area_iter_next
    if (!next || cur !== next.start || !next.pages) return { pieces, done: false };
    area = next;
  }
}

/** iopt_get_pages over the faulty walk. */
const getPages = getPagesWith({ contig });

export function createAdapter(profile: Profile): Implementation {
  const copy = copyHandler({ getPages });
  const testAccessPages = accessPagesHandler({ pinPages: accessPinPagesWith({ contig }) });
  const testAccessRw = accessRwHandler({ contig });
  return mutantImplementation('contig-next-cur-not-advanced', profile, {
    handlers: {
      IOMMU_IOAS_COPY: (ucmd) => copy(ucmd),
      IOMMU_TEST_CMD: (ucmd, original) => {
        const op = ucmd.cmd.num('op');
        if (op === IOMMU_TEST_OP_ACCESS_PAGES) return testAccessPages(ucmd);
        if (op === IOMMU_TEST_OP_ACCESS_RW) return testAccessRw(ucmd);
        return original(ucmd);
      },
    },
  });
}
