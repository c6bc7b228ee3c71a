/**
 * access-add-exact-skips-users (drivers/iommu/iommufd/pages.c
 * iopt_area_add_access, its fast path for a range that is already pinned
 * exactly; reached from iommufd_access_pin_pages: IOMMU_TEST_OP_ACCESS_PAGES,
 * an mdev driver's vfio_pin_pages; 6.12 and 7.3).
 *
 * Every in-kernel pin of an iopt_pages is an iopt_pages_access node in
 * pages->access_itree, one node per exact [start_index, last_index] range,
 * with a users count: a second pin of the very same range (the same driver
 * pinning a page twice, two accesses pinning the same guest page, an access
 * of another IOAS pinning the same pages after IOMMU_IOAS_COPY) finds the
 * node and only counts itself on it:
 *
 *     access = iopt_pages_get_exact_access(pages, start_index, last_index);
 *     if (access) {
 *             area->num_accesses++;
 *             if (lock_area)                  (7.3 only)
 *                     area->num_locks++;
 *             access->users++;
 *             iopt_pages_fill_from_xarray(pages, start_index, last_index,
 *                                         out_pages);
 *             mutex_unlock(&pages->mutex);
 *             return 0;
 *     }
 *
 * THE FAULT: `access->users++;` is lost from that block (a merge slip when
 * the lock_area lines went in next to it). The area still counts the pin
 * (num_accesses), the pages are handed out, but the node's users stays at 1
 * whatever the number of pins on it.
 *
 * iopt_area_remove_access undoes one pin: num_accesses--, users--, and when
 * users reaches 0 the node leaves access_itree and iopt_pages_unfill_xarray
 * unpins every page of the range that no domain and no other access holds.
 * With the fault the FIRST of two pins to be released drops the node:
 *   - the pages are unpinned (and uncharged) while the other holder still
 *     uses them: an mdev driver keeps writing into struct pages the process
 *     may now munmap and the kernel free (use after free of guest memory);
 *   - the second release finds no node: WARN_ON(!access), return — before
 *     num_accesses-- — so the area keeps num_accesses == 1 for ever. Every
 *     later IOMMU_IOAS_UNMAP over it (and the IOAS's destruction) marks it
 *     prevent_access, asks the accesses to unpin (they hold nothing), retries
 *     a hundred times and fails with EDEADLOCK: the mapping, and every
 *     domain's translation of it, can never be removed.
 *
 * Why it takes several commands and two holders: one pin of a range, or
 * pins of different ranges, behave exactly as the reference. It takes a
 * second pin of an identical range while the first is held (two
 * ACCESS_PAGES items, or two accesses of the same IOAS, or accesses of two
 * IOASes over pages shared by IOAS_COPY), then the release of one of them —
 * the harm is visible only in what the other holder and later commands see:
 * pin counts of pages still pinned by the survivor, and an unmap that can no
 * longer succeed after both are gone.
 *
 * Applied as: IOMMU_TEST_OP_ACCESS_PAGES, DESTROY_ACCESS_PAGES, the
 * access's unmap callback and the release of its file (accessUnpinHooks in
 * _access_pages.ts) go through iommufd_access_pin_pages /
 * iommufd_access_unpin_pages whose iopt_area_add_access takes the
 * reference's fast path without the users increment, and whose
 * iopt_area_remove_access WARNs and returns when no exact node exists (the
 * kernel's WARN_ON(!access) path, where the reference would assert).
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { EPERM } from '../../../impl/lib/errno.ts';
import type { IoptArea, IoptPages, IoptPagesAccess } from '../../../impl/iommufd/iommufd_private.ts';
import { ioptAreaAddAccess, ioptAreaRemoveAccess } from '../../../impl/iommufd/pages.ts';
import type { IommufdAccess } from '../../../impl/iommufd/access.ts';
import { err, type Result } from '../../../impl/iommufd/object.ts';
import { mutantImplementation } from '../harness.ts';
import { accessPinPagesWith, accessUnpinHooks, accessUnpinPagesWith } from './_access_pages.ts';

/** iopt_pages_get_exact_access */
function exactAccess(pages: IoptPages, start: number, last: number): IoptPagesAccess | undefined {
  return pages.accesses.find((a) => a.start === start && a.last === last);
}

/** iopt_area_add_access with THE FAULT: the exact-range fast path does not count the new user on the node. */
function areaAddAccess(area: IoptArea, start: number, last: number, write: boolean): Result<number[]> {
  const pages = area.pages!;
  if (write && !pages.writable) return err(-EPERM);
  const exact = exactAccess(pages, start, last);
  const r = ioptAreaAddAccess(area, start, last, write);
  // The reference's fast path did area->num_accesses++ and access->users++: take the users++ back.
  if (r.errno === 0 && exact) exact.users--;
  return r;
}

/** iopt_area_remove_access: WARN_ON(!access) and return when no exact node exists (num_accesses untouched). */
function areaRemoveAccess(access: IommufdAccess, area: IoptArea, start: number, last: number): void {
  if (!exactAccess(area.pages!, start, last)) {
    access.ctx.warnings.push(`iopt_area_remove_access: WARN_ON(!access): no access range [${start}, ${last}]`);
    return;
  }
  ioptAreaRemoveAccess(area, start, last);
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('access-add-exact-skips-users', profile, {
    ...accessUnpinHooks({
      pinPages: accessPinPagesWith({ addAccess: areaAddAccess, removeAccess: areaRemoveAccess }),
      unpinPages: accessUnpinPagesWith(areaRemoveAccess),
    }),
  });
}
