/**
 * access-pin-out-pages-not-advanced (drivers/iommu/iommufd/device.c
 * iommufd_access_pin_pages; reached by IOMMU_TEST_OP_ACCESS_PAGES and by
 * every mdev-style driver's vfio_pin_pages()).
 *
 * An access pin may span several contiguous areas of the IOAS (two
 * IOMMU_IOAS_MAPs back to back, a COPY next to a MAP, ...). The walk adds
 * each area's piece with iopt_area_add_access, which stores that piece's
 * struct page pointers at out_pages, and then moves the output cursor past
 * them so the next area's pages follow:
 *
 *     rc = iopt_area_add_access(area, index, last_index, out_pages,
 *                               flags, internal);
 *     if (rc)
 *             goto err_remove;
 *     out_pages += last_index - index + 1;
 *
 * THE FAULT drops the cursor update (the loop body was reshuffled when the
 * `internal` flag was threaded through, and the increment went with the old
 * call): every area's pages are written from out_pages[0]. The pins
 * themselves are right — every page of every area is pinned and accounted,
 * and the matching unpin gives them back — but the page array the caller
 * gets is not the one for its IOVA range: the first entries are the *last*
 * area's pages, and the tail the later areas should have filled keeps what
 * the caller's array held (the selftest's kvzalloc: NULL).
 *
 * A pin inside one area is unaffected, so a single map followed by any
 * access pin answers as the kernel does. With two areas under one pin the
 * driver is handed the wrong pages — it would DMA-emulate into memory of
 * another IOVA and dereference NULL for the rest. The selftest's driver
 * checks the array against the user VA (iommufd_test_check_pages), so
 * IOMMU_TEST_OP_ACCESS_PAGES over two areas fails with EBADE (and unpins)
 * where the kernel succeeds; with uptr 0 (no check) it succeeds but the
 * item holds a page list that does not match its IOVAs.
 *
 * Applied as: IOMMU_TEST_OP_ACCESS_PAGES runs the shared copy of
 * iommufd_test_access_pages (_access_pages.ts) over a copy of
 * iommufd_access_pin_pages without the cursor update; unpinning is the
 * reference's.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { EINVAL, ENOENT, EOVERFLOW, EPERM } from '../../../impl/lib/errno.ts';
import { IOMMU_TEST_OP_ACCESS_PAGES } from '../../../spec/uapi/constants.ts';
import { ioptAreaContig, ioptAreaIovaToIndex, ioptAreaStartByte } from '../../../impl/iommufd/io_pagetable.ts';
import { ioptAreaAddAccess, ioptAreaRemoveAccess } from '../../../impl/iommufd/pages.ts';
import { PAGE_SIZE, ULONG_MAX, type IoptArea } from '../../../impl/iommufd/iommufd_private.ts';
import { err, ok } from '../../../impl/iommufd/object.ts';
import { Unwind } from '../../../impl/lib/unwind.ts';
import { mutantImplementation } from '../harness.ts';
import { accessPagesHandler, checkAreaProt, type AccessPinPages } from './_access_pages.ts';

const P = BigInt(PAGE_SIZE);
/** A page pointer slot nothing wrote: the caller's kvzalloc'd array holds NULL there (never a real frame). */
const NULL_PAGE = -1;

/** iopt_area_contig_is_aligned */
function contigIsAligned(area: IoptArea, cur: bigint, isLastPiece: boolean): boolean {
  if (ioptAreaStartByte(area, cur) % P) return false;
  if (!isLastPiece && ioptAreaStartByte(area, area.last) % P !== P - 1n) return false;
  return true;
}

/** iommufd_access_pin_pages with THE FAULT: out_pages is never advanced past an area's piece. */
const pinPages: AccessPinPages = (access, iova, length, write) => {
  if (!access.ops.needsPinPages) return err(-EINVAL);
  if (!length) return err(-EINVAL);
  const lastIova = iova + length - 1n;
  if (lastIova > ULONG_MAX) return err(-EOVERFLOW);
  const ioas = access.ioas;
  if (!ioas) return err(-ENOENT);
  // The caller's array: npages = (ALIGN(iova + length) - ALIGN_DOWN(iova)) / PAGE_SIZE, zeroed.
  const npages = Number((((iova + length + P - 1n) / P) * P - (iova / P) * P) / P);
  const outPages: number[] = new Array<number>(npages).fill(NULL_PAGE);
  const cursor = 0; // out_pages: THE FAULT never moves it
  const { pieces, done } = ioptAreaContig(ioas.iopt, iova, lastIova);
  const unwind = new Unwind();
  for (const { area, cur } of pieces) {
    const last = lastIova < area.last ? lastIova : area.last;
    if (area.preventAccess || !contigIsAligned(area, cur, last === lastIova)) return unwind.exit(err(-EINVAL));
    if (!checkAreaProt(area, write)) return unwind.exit(err(-EPERM));
    const index = ioptAreaIovaToIndex(area, cur);
    const lastIndex = ioptAreaIovaToIndex(area, last);
    const r = ioptAreaAddAccess(area, index, lastIndex, write);
    if (r.errno) return unwind.exit(err(r.errno));
    unwind.onError('err_remove', () => ioptAreaRemoveAccess(area, index, lastIndex));
    r.value!.forEach((pfn, i) => {
      if (cursor + i < outPages.length) outPages[cursor + i] = pfn;
    });
    // THE FAULT: missing `out_pages += last_index - index + 1;`
  }
  if (!done) return unwind.exit(err(-ENOENT));
  return unwind.exit(ok(outPages));
};

const testAccessPages = accessPagesHandler({ pinPages });

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('access-pin-out-pages-not-advanced', profile, {
    handlers: { IOMMU_TEST_CMD: (ucmd, original) => (ucmd.cmd.num('op') === IOMMU_TEST_OP_ACCESS_PAGES ? testAccessPages(ucmd) : original(ucmd)) },
  });
}
