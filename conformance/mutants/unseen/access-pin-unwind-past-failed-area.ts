/**
 * access-pin-unwind-past-failed-area (drivers/iommu/iommufd/device.c
 * iommufd_access_pin_pages, its err_remove unwind; reached by
 * IOMMU_TEST_OP_ACCESS_PAGES and by every mdev-style driver's pin).
 *
 * An access pin may span several contiguous areas of the IOAS: each area's
 * piece is added with iopt_area_add_access (one exact [start_index,
 * last_index] iopt_pages_access range per piece, counted in
 * area->num_accesses). When a later piece is refused — the area is being
 * unmapped or its piece is misaligned (EINVAL), the area is not mapped for
 * the access's direction (EPERM), the add itself fails — only the pieces
 * already added are given back, so the unwind walk is cut short at the
 * failing area:
 *
 *     err_remove:
 *             if (iova < iter.cur_iova) {
 *                     last_iova = iter.cur_iova - 1;
 *                     iopt_for_each_contig_area(&iter, area, iopt, iova, last_iova)
 *                             iopt_area_remove_access(area,
 *                                     iopt_area_iova_to_index(area, iter.cur_iova),
 *                                     iopt_area_iova_to_index(area,
 *                                             min(last_iova, iopt_area_last_iova(area))),
 *                                     internal);
 *             }
 *
 * THE FAULT drops `last_iova = iter.cur_iova - 1;` (the walk "obviously"
 * stops where the pin stopped): the unwind re-walks the whole requested
 * range and calls iopt_area_remove_access for the failing area's piece, and
 * for every contiguous area after it, although nothing was added there.
 * iopt_area_remove_access looks the piece up by its exact index range
 * (iopt_pages_get_exact_access): where no such range exists it only WARNs,
 * but where one does, it belongs to a pin someone else holds — another
 * access, or an earlier pin of the same access — and that pin is given back
 * in its holder's place: area->num_accesses and the range's users drop, and
 * if that was its last user the pages are unpinned (iopt_pages_unfill_xarray)
 * under a holder that still believes it has them.
 *
 * Why it needs several commands and two pins: a first pin (access A, read)
 * of exactly one area; then a pin (A again, or access B) that starts in a
 * contiguous area before it and fails on it — e.g. a write pin across a
 * read/write area and the read-only one. The failing command answers the
 * same errno as the kernel; the damage is to the first pin:
 *   - its pages are no longer pinned (pin_count, IOMMU_TEST_OP_MD_CHECK_REFS)
 *     while A's item still exists; with no domain in the IOAS the memory can
 *     be reclaimed under the driver;
 *   - the area's num_accesses is 0, so IOMMU_IOAS_UNMAP of it no longer
 *     notifies A: the IOVA goes away while A still holds (and later
 *     releases, with a WARN) an item for it — DESTROY_ACCESS_PAGES of that
 *     item answers 0 where the kernel answers ENOENT;
 *   - when the range had no other holder on that area (an area made by
 *     IOMMU_IOAS_COPY over the same pages in another IOAS), num_accesses
 *     wraps below zero and that area can never be unmapped (EDEADLOCK).
 *
 * Applied as: IOMMU_TEST_OP_ACCESS_PAGES pins through a copy of
 * iommufd_access_pin_pages with the unwind above; every unpin of the
 * selftest access (item destroy, unmap callback, release, the error unwind)
 * goes through a copy of iommufd_access_unpin_pages whose
 * iopt_area_remove_access WARNs (recorded in the context's warnings) where
 * the kernel does instead of the reference's assertion, and decrements
 * num_accesses as the kernel's unsigned int does.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation } from '../harness.ts';
import { EINVAL, ENOENT, EOVERFLOW, EPERM } from '../../../impl/lib/errno.ts';
import { ioptAreaContig, ioptAreaIovaToIndex, ioptAreaStartByte } from '../../../impl/iommufd/io_pagetable.ts';
import { ioptAreaAddAccess, ioptPagesRelease } from '../../../impl/iommufd/pages.ts';
import { PAGE_SIZE, ULONG_MAX, type IoptArea } from '../../../impl/iommufd/iommufd_private.ts';
import { err, ok } from '../../../impl/iommufd/object.ts';
import { accessUnpinHooks, accessUnpinPagesWith, checkAreaProt, type AccessPinPages, type AreaRemoveAccess } from './_access_pages.ts';

const P = BigInt(PAGE_SIZE);

/** iopt_area_remove_access as the kernel writes it: WARN and return when the exact range is missing; num_accesses is an unsigned int. */
const removeAccess: AreaRemoveAccess = (access, area, start, last) => {
  const pages = area.pages!;
  const exact = pages.accesses.find((a) => a.start === start && a.last === last);
  if (!exact) {
    access.ctx.warnings.push(`iopt_area_remove_access: WARN_ON(!access) for [${start}, ${last}]`);
    return;
  }
  if (area.numAccesses === 0 || exact.users === 0) access.ctx.warnings.push('iopt_area_remove_access: WARN_ON(area->num_accesses == 0 || access->users == 0)');
  area.numAccesses = (area.numAccesses - 1) >>> 0;
  exact.users--;
  if (exact.users) return;
  pages.accesses.splice(pages.accesses.indexOf(exact), 1);
  ioptPagesRelease(pages, start, last);
};

/** iopt_area_contig_is_aligned */
function contigIsAligned(area: IoptArea, cur: bigint, isLastPiece: boolean): boolean {
  if (ioptAreaStartByte(area, cur) % P) return false;
  if (!isLastPiece && ioptAreaStartByte(area, area.last) % P !== P - 1n) return false;
  return true;
}

/** iommufd_access_pin_pages with THE FAULT in its err_remove unwind. */
const pinPages: AccessPinPages = (access, iova, length, write) => {
  if (!access.ops.needsPinPages) return err(-EINVAL);
  if (!length) return err(-EINVAL);
  const lastIova = iova + length - 1n;
  if (lastIova > ULONG_MAX) return err(-EOVERFLOW);
  const ioas = access.ioas;
  if (!ioas) return err(-ENOENT);
  const iopt = ioas.iopt;
  const { pieces, done } = ioptAreaContig(iopt, iova, lastIova);
  const out: number[] = [];
  /** iter.cur_iova: where the walk stands (the failing piece, or past the last area). */
  let curIova = iova;
  let rc = 0;
  for (const { area, cur } of pieces) {
    curIova = cur;
    const last = lastIova < area.last ? lastIova : area.last;
    if (area.preventAccess || !contigIsAligned(area, cur, last === lastIova)) {
      rc = -EINVAL;
      break;
    }
    if (!checkAreaProt(area, write)) {
      rc = -EPERM;
      break;
    }
    const r = ioptAreaAddAccess(area, ioptAreaIovaToIndex(area, cur), ioptAreaIovaToIndex(area, last), write);
    if (r.errno) {
      rc = r.errno;
      break;
    }
    out.push(...r.value!);
    curIova = area.last + 1n;
  }
  if (!rc && done) return ok(out);
  if (!rc) rc = -ENOENT;
  // err_remove:
  if (iova < curIova) {
    // THE FAULT: `last_iova = iter.cur_iova - 1;` is missing — the walk runs on over the failing area and past it.
    for (const { area, cur } of ioptAreaContig(iopt, iova, lastIova).pieces) {
      const last = lastIova < area.last ? lastIova : area.last;
      removeAccess(access, area, ioptAreaIovaToIndex(area, cur), ioptAreaIovaToIndex(area, last));
    }
  }
  return err(rc);
};

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('access-pin-unwind-past-failed-area', profile, accessUnpinHooks({ pinPages, unpinPages: accessUnpinPagesWith(removeAccess) }));
}
