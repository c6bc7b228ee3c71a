/**
 * access-unpin-later-piece-from-iova (drivers/iommu/iommufd/device.c,
 * iommufd_access_unpin_pages).
 *
 * An access pin may span several contiguous areas of the IOAS (one
 * iopt_pages_access per area's piece, each an exact [start_index,
 * last_index] range of that area's iopt_pages). The unpin walks the same
 * pieces and gives each one back with the piece's own start:
 *     iopt_for_each_contig_area(&iter, area, iopt, iova, last_iova)
 *             iopt_area_remove_access(area,
 *                     iopt_area_iova_to_index(area, iter.cur_iova),
 *                     iopt_area_iova_to_index(area,
 *                             min(last_iova, iopt_area_last_iova(area))));
 * The fault computes every piece's first index from the caller's `iova`
 * (the start of the whole range) instead of iter.cur_iova — the same as
 * iter.cur_iova for the first piece, so single-area pins are unaffected. For
 * the second and later areas `iova` lies before the area:
 * iopt_area_start_byte() wraps, the index is garbage, no exact access
 * matches, and iopt_area_remove_access() only WARNs. Those pieces stay
 * pinned, stay charged to the user's RLIMIT_MEMLOCK, and keep their area's
 * num_accesses raised, although the driver (here the selftest access item)
 * has forgotten them. (Had the wrapped index matched another holder's exact
 * range — an area made by IOAS_COPY from the middle of a mapping — that
 * holder's pin would be dropped instead.)
 *
 * Consequence for a user: after IOMMU_TEST_OP_ACCESS_PAGES over two
 * contiguous areas and its IOMMU_TEST_OP_DESTROY_ACCESS_PAGES (or the access
 * being told to unpin by an unmap, a replace, or its fd being closed) the
 * pages of the later areas remain pinned; IOMMU_IOAS_UNMAP of such an area
 * notifies the access 100 times and fails with EDEADLOCK, the IOAS's
 * destruction can no longer unmap it, and the pages stay pinned and charged
 * after every file is closed.
 *
 * Applied where the selftest access calls iommufd_access_unpin_pages: its
 * unmap callback (iommufd_test_access_unmap, the access's ops->unmap), the
 * release of its file, IOMMU_TEST_OP_DESTROY_ACCESS_PAGES and the error
 * unwind of IOMMU_TEST_OP_ACCESS_PAGES (accessUnpinHooks in _access_pages.ts,
 * shared with the other faults of the access's unpin).
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { PAGE_SIZE, ULONG_MAX, type IoptArea } from '../../../impl/iommufd/iommufd_private.ts';
import { ioptAreaContig, ioptAreaIovaToIndex } from '../../../impl/iommufd/io_pagetable.ts';
import { ioptAreaRemoveAccess } from '../../../impl/iommufd/pages.ts';
import type { IommufdAccess } from '../../../impl/iommufd/access.ts';
import { mutantImplementation } from '../harness.ts';
import { accessUnpinHooks } from './_access_pages.ts';

const P = BigInt(PAGE_SIZE);

/** iopt_area_remove_access: WARN_ON(!access) and return when no exact range matches. */
function areaRemoveAccess(access: IommufdAccess, area: IoptArea, first: bigint, last: number): void {
  const pages = area.pages!;
  const exact = first <= BigInt(Number.MAX_SAFE_INTEGER) ? pages.accesses.find((a) => a.start === Number(first) && a.last === last) : undefined;
  if (!exact) {
    access.ctx.warnings.push(`iopt_area_remove_access: WARN_ON(!access): no access range [${first}, ${last}]`);
    return;
  }
  ioptAreaRemoveAccess(area, Number(first), last);
}

/** iommufd_access_unpin_pages with the fault. */
function accessUnpinPages(access: IommufdAccess, iova: bigint, length: bigint): void {
  if (!length) return;
  const last = iova + length - 1n;
  if (last > ULONG_MAX) return;
  const ioas = access.ioasUnpin;
  if (!ioas) {
    access.ctx.warnings.push('iommufd_access_unpin_pages: WARN_ON(!access->ioas_unpin)');
    return;
  }
  const { pieces, done } = ioptAreaContig(ioas.iopt, iova, last);
  for (const { area } of pieces) {
    const pieceLast = last < area.last ? last : area.last;
    // THE FAULT: iopt_area_iova_to_index(area, iova) instead of (area, iter.cur_iova).
    // iopt_area_start_byte() in unsigned long arithmetic: wraps when iova is before the area.
    const startByte = BigInt.asUintN(64, iova - area.start + area.startByte);
    areaRemoveAccess(access, area, startByte / P, ioptAreaIovaToIndex(area, pieceLast));
  }
  if (!done) access.ctx.warnings.push('iommufd_access_unpin_pages: WARN_ON(!iopt_area_contig_done(&iter))');
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('access-unpin-later-piece-from-iova', profile, {
    ...accessUnpinHooks({ unpinPages: accessUnpinPages }),
  });
}
