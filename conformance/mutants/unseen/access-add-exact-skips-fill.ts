/**
 * access-add-exact-skips-fill (drivers/iommu/iommufd/pages.c
 * iopt_area_add_access, reached from iommufd_access_pin_pages).
 *
 * An in-kernel access (an emulated/mdev device, the selftest's access) pins
 * a range of an area and gets the struct page of every PFN back in
 * out_pages. An iopt_pages_access node covering exactly the same page index
 * range may already exist — another pin of the same range by this access or
 * another one, or a pin through another area of the same iopt_pages (an
 * IOAS_COPY of it, in this IOAS or another). Then the PFNs are already in
 * pages->pinned_pfns and the fast path only counts the new user and reads
 * them back:
 *
 *     access = iopt_pages_get_exact_access(pages, start_index, last_index);
 *     if (access) {
 *             area->num_accesses++;
 *             access->users++;
 *             iopt_pages_fill_from_xarray(pages, start_index, last_index,
 *                                         out_pages);
 *             mutex_unlock(&pages->mutex);
 *             return 0;
 *     }
 *
 * The fault loses the iopt_pages_fill_from_xarray() call of the fast path
 * (the slow path fills out_pages inside iopt_pages_fill_xarray, so the reuse
 * branch "has nothing to do" but count): the pin succeeds and is counted
 * exactly as in the kernel, but the caller's out_pages for that piece keep
 * whatever they held — NULL from the caller's zeroed array.
 *
 * Observable only through state another command left: the first pin of a
 * range answers correctly; a second pin of exactly the same index range
 * while the first is held — a second item of the same access, another
 * access, or an access on an IOAS_COPY of the area — hands the driver no
 * pages. A real mdev driver would DMA through NULL pages; the selftest's
 * IOMMU_TEST_OP_ACCESS_PAGES compares what it got with the user memory
 * behind uptr (iommufd_test_check_pages) and fails with EBADE, unpinning
 * again. Pins that only overlap (not the same first and last index) take
 * the slow path and are right.
 *
 * Applied on IOMMU_TEST_OP_ACCESS_PAGES through a copy of its handler and of
 * iommufd_access_pin_pages (_access_pages.ts) whose iopt_area_add_access is
 * the faulty one below; every unpin is the reference's.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation } from '../harness.ts';
import { EPERM } from '../../../impl/lib/errno.ts';
import { IOMMU_TEST_OP_ACCESS_PAGES } from '../../../spec/uapi/constants.ts';
import { err, ok, type Result } from '../../../impl/iommufd/object.ts';
import type { IoptArea } from '../../../impl/iommufd/iommufd_private.ts';
import { ioptAreaAddAccess } from '../../../impl/iommufd/pages.ts';
import { accessPagesHandler, accessPinPagesWith } from './_access_pages.ts';

/** A NULL struct page * in out_pages: matches no user page. */
const NULL_PAGE = -1;

/** iopt_area_add_access with the fast path's iopt_pages_fill_from_xarray() lost. */
function areaAddAccess(area: IoptArea, start: number, last: number, write: boolean): Result<number[]> {
  const pages = area.pages!;
  if (write && !pages.writable) return err(-EPERM);
  const exact = pages.accesses.find((a) => a.start === start && a.last === last);
  if (!exact) return ioptAreaAddAccess(area, start, last, write); // the slow path, as the reference's
  area.numAccesses++;
  exact.users++;
  // THE FAULT: no iopt_pages_fill_from_xarray(pages, start_index, last_index, out_pages).
  return ok(new Array<number>(last - start + 1).fill(NULL_PAGE));
}

export function createAdapter(profile: Profile): Implementation {
  const testAccessPages = accessPagesHandler({ pinPages: accessPinPagesWith({ addAccess: areaAddAccess }) });
  return mutantImplementation('access-add-exact-skips-fill', profile, {
    handlers: {
      IOMMU_TEST_CMD: (ucmd, original) => (ucmd.cmd.num('op') === IOMMU_TEST_OP_ACCESS_PAGES ? testAccessPages(ucmd) : original(ucmd)),
    },
  });
}
