/**
 * rw-page-put-not-unpin (drivers/iommu/iommufd/pages.c iopt_pages_rw_page,
 * reached by iommufd_access_rw → iopt_pages_rw_access for a copy within one
 * page when the caller is not in the pages' mm — a kthread of an mdev
 * driver; the selftest's MOCK_ACCESS_RW_SLOW_PATH).
 *
 * The one-page slow path takes a FOLL_PIN reference on the page of the
 * source mm, copies, and gives the pin back:
 *
 *     rc = pin_user_pages_remote(
 *             pages->source_mm, (uintptr_t)(pages->uptr + index * PAGE_SIZE),
 *             1, (flags & IOMMUFD_ACCESS_RW_WRITE) ? FOLL_WRITE : 0, &page,
 *             NULL);
 *     ...
 *     copy_data_page(page, data, offset, length, flags);
 *     unpin_user_page(page);
 *     rc = 0;
 *
 * THE FAULT: the release is the get_user_pages-era one,
 *
 *     copy_data_page(page, data, offset, length, flags);
 *     put_page(page);
 *
 * (the mistake the FOLL_PIN conversion left in several drivers: a pin
 * taken with pin_user_pages*() is GUP_PIN_COUNTING_BIAS references, and
 * put_page() drops one of them). The copy is right and the command
 * answers 0 as the kernel's does; but every such ACCESS_RW leaves the page
 * pinned — page_maybe_dma_pinned() stays true, IOMMU_TEST_OP_MD_CHECK_REFS
 * counts one more pin (EIO against the expected count), and the pin
 * outlives the access, the IOAS and every fd: the page is never freed,
 * even after munmap. Nothing is charged to locked_vm / pinned_vm (this path
 * never was), so only the page's pin count shows it; it accumulates one
 * pin per copy. It needs an access attached to an IOAS with a mapping, a
 * slow-path read or write within one page, and a look at the page's pins
 * later.
 *
 * Applied as: IOMMU_TEST_OP_ACCESS_RW is the shared copy of
 * iommufd_test_access_rw → iommufd_access_rw (_access_rw.ts) whose
 * iopt_pages_rw_access takes the faulty iopt_pages_rw_page for a slow-path
 * copy within one page, and is the reference's otherwise.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation } from '../harness.ts';
import { EFAULT, EINVAL } from '../../../impl/lib/errno.ts';
import { IOMMU_TEST_OP_ACCESS_RW } from '../../../spec/uapi/constants.ts';
import { PAGE_SIZE, type IoptPages } from '../../../impl/iommufd/iommufd_private.ts';
import { ioptPagesRwAccess } from '../../../impl/iommufd/pages.ts';
import { accessRwHandler } from './_access_rw.ts';

/** iopt_pages_rw_access whose one-page slow path (iopt_pages_rw_page) has THE FAULT. */
function pagesRwAccess(pages: IoptPages, startByte: number, data: Uint8Array, write: boolean, slowPath = false): number {
  const startIndex = Math.floor(startByte / PAGE_SIZE);
  const lastIndex = Math.floor((startByte + data.length - 1) / PAGE_SIZE);
  if (!slowPath || startIndex !== lastIndex || (write && !pages.writable)) return ioptPagesRwAccess(pages, startByte, data, write, slowPath);
  // iopt_pages_rw_page
  const proc = pages.proc;
  if (proc.faults.shouldFail()) return -EINVAL;
  const r = proc.pinUserPages(pages.uptr + BigInt(startIndex) * BigInt(PAGE_SIZE), 1, write);
  if (r.errno || !('pfns' in r)) return r.errno || -EFAULT;
  // copy_data_page
  const pa = r.pfns[0]! * PAGE_SIZE + (startByte % PAGE_SIZE);
  if (write) proc.phys.u8.set(data, pa);
  else data.set(proc.phys.u8.subarray(pa, pa + data.length));
  // THE FAULT: put_page(page) — the FOLL_PIN reference is never given back (no unpin_user_page).
  return 0;
}

export function createAdapter(profile: Profile): Implementation {
  const accessRw = accessRwHandler({ pagesRw: pagesRwAccess });
  return mutantImplementation('rw-page-put-not-unpin', profile, {
    handlers: {
      IOMMU_TEST_CMD: (ucmd, original) => (ucmd.cmd.num('op') === IOMMU_TEST_OP_ACCESS_RW ? accessRw(ucmd) : original(ucmd)),
    },
  });
}
