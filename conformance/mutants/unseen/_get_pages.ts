/**
 * Shared by the faults in iopt_get_pages (io_pagetable.c), which IOAS_COPY
 * runs on its source: a copy of the reference's whose walk over the areas,
 * list insertion and completeness test are steps. With the reference's steps it answers as
 * ioptGetPages does.
 */
import { EINVAL, ENOENT, ENOMEM, EOVERFLOW } from '../../../impl/lib/errno.ts';
import { ULONG_MAX, type PagesListElm } from '../../../impl/iommufd/iommufd_private.ts';
import { ioptAreaContig, ioptAreaStartByte, ioptFreePagesList, type ioptGetPages } from '../../../impl/iommufd/io_pagetable.ts';
import { ioptGetPagesRef } from '../../../impl/iommufd/pages.ts';
import { Unwind } from '../../../impl/lib/unwind.ts';

/** The steps a fault may replace; each one not given is the reference's. */
export interface GetPagesSteps {
  /** The walk over the contiguous areas of the range (the kernel: iopt_for_each_contig_area). */
  readonly contig?: typeof ioptAreaContig;
  /** Puts a piece on the list (the kernel: list_add_tail). */
  readonly add?: (list: PagesListElm[], elm: PagesListElm) => void;
  /** Whether the source was covered: `done` is iopt_area_contig_done (the kernel's test). */
  readonly covered?: (done: boolean, list: readonly PagesListElm[]) => boolean;
}

/** iopt_get_pages over the given steps. */
export function getPagesWith({ contig = ioptAreaContig, add = (list, elm) => list.push(elm), covered = (done) => done }: GetPagesSteps): typeof ioptGetPages {
  return (iopt, iova, length, list) => {
    if (!length) return -EINVAL;
    const last = iova + length - 1n;
    if (last > ULONG_MAX) return -EOVERFLOW;
    const { pieces, done } = contig(iopt, iova, last);
    const unwind = new Unwind();
    unwind.onError('err_free', () => ioptFreePagesList(list));
    for (const { area, cur } of pieces) {
      if (iopt.faults.shouldFail()) return unwind.exit(-ENOMEM); // kzalloc(elm)
      const pieceLast = last < area.last ? last : area.last;
      ioptGetPagesRef(area.pages!);
      add(list, { pages: area.pages, area: null, startByte: ioptAreaStartByte(area, cur), length: pieceLast - cur + 1n });
    }
    return unwind.exit(covered(done, list) ? 0 : -ENOENT);
  };
}
