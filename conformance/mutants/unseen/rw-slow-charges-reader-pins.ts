/**
 * rw-slow-charges-reader-pins — iopt_pages_rw_slow (drivers/iommu/iommufd/pages.c).
 *
 * The kernel's slow path reads through a pfn_reader and never charges what the
 * reader pins for the copy; pfn_reader_destroy() unpins it again and npinned
 * is back at last_npinned:
 *
 *     rc = pfn_reader_first(&pfns, pages, start_index, last_index);
 *     ...
 *     while (!pfn_reader_done(&pfns)) {
 *             done = batch_rw(&pfns.batch, data, offset, length, flags);
 *             ...
 *             pfn_reader_unpin(&pfns);
 *             rc = pfn_reader_next(&pfns);
 *             ...
 *     }
 *  out_destroy:
 *     pfn_reader_destroy(&pfns);
 *
 * The fault adds the fill paths' `rc = pfn_reader_update_pinned(&pfns);`
 * after the loop (as iopt_pages_fill_xarray has it): the reader's temporary
 * pins are charged (user or mm locked_vm, mm->pinned_vm, and RLIMIT_MEMLOCK
 * tested: ENOMEM), then unpinned by pfn_reader_unpin/destroy, which only lower
 * npinned and never uncharge — last_npinned stays above npinned, so the charge
 * outlives the pins until some later unpin of the same pages resyncs it.
 *
 * User-visible: after IOMMU_TEST_OP_ACCESS_RW with MOCK_ACCESS_RW_SLOW_PATH over
 * more than one page of pages nobody holds, process_info's pinnedVmPages (and
 * lockedVmPages under MM accounting) stays raised with nothing pinned; near the
 * limit such a read fails with ENOMEM. Both profiles.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation } from '../harness.ts';
import { EPERM } from '../../../impl/lib/errno.ts';
import { IOMMU_TEST_OP_ACCESS_RW } from '../../../spec/uapi/constants.ts';
import { ioptPagesCharge, ioptPagesHold, ioptPagesRwAccess } from '../../../impl/iommufd/pages.ts';
import { PAGE_SIZE, type IoptPages } from '../../../impl/iommufd/iommufd_private.ts';
import { accessRwHandler } from './_access_rw.ts';

/** iopt_pages_rw_access with the fault in its iopt_pages_rw_slow branch. */
function pagesRwAccess(pages: IoptPages, startByte: number, data: Uint8Array, write: boolean, slowPath = false): number {
  const startIndex = Math.floor(startByte / PAGE_SIZE);
  const lastIndex = Math.floor((startByte + data.length - 1) / PAGE_SIZE);
  if (!slowPath || startIndex === lastIndex) return ioptPagesRwAccess(pages, startByte, data, write, slowPath);
  if (write && !pages.writable) return -EPERM;
  const proc = pages.proc;
  const held = ioptPagesHold(pages, startIndex, lastIndex, 'later');
  if (held.errno) return held.errno;
  const phys = proc.phys.u8;
  let done = 0;
  for (let i = startIndex; i <= lastIndex; i++) {
    const off = i === startIndex ? startByte % PAGE_SIZE : 0;
    const n = Math.min(PAGE_SIZE - off, data.length - done);
    const pa = held.value![i - startIndex]! * PAGE_SIZE + off;
    if (write) phys.set(data.subarray(done, done + n), pa);
    else data.set(phys.subarray(pa, pa + n), done);
    done += n;
  }
  // THE FAULT: rc = pfn_reader_update_pinned(&pfns) — the reader's own pins are charged.
  const rc = ioptPagesCharge(pages);
  // pfn_reader_destroy -> pfn_reader_release_pins -> batch_unpin: unpin what nobody else holds and lower
  // npinned (iopt_pages_sub_npinned) — no update_unpinned, so nothing is uncharged.
  for (let i = startIndex; i <= lastIndex; i++) {
    const cur = pages.pinned.get(i)!;
    cur.holders--;
    if (cur.holders === 0) {
      pages.pinned.delete(i);
      proc.unpinUserPage(cur.pfn);
      pages.npinned--;
    }
  }
  return rc;
}

const testAccessRw = accessRwHandler({ pagesRw: pagesRwAccess });

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('rw-slow-charges-reader-pins', profile, {
    handlers: { IOMMU_TEST_CMD: (ucmd, original) => (ucmd.cmd.num('op') === IOMMU_TEST_OP_ACCESS_RW ? testAccessRw(ucmd) : original(ucmd)) },
  });
}
