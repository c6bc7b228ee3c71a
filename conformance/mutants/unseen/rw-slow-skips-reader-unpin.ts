/**
 * Round 7a fault (drivers/iommu/iommufd/pages.c iopt_pages_rw_slow).
 *
 * iommufd_access_rw on another mm (or the selftest's SLOW_PATH) copies a
 * multi-page range through a pfn_reader: the reader pins whatever no domain
 * or access already holds, copies each batch and unpins what it pinned
 * before moving on:
 *
 *     while (!pfn_reader_done(&pfns)) {
 *             done = batch_rw(&pfns.batch, data, offset, length, flags);
 *             data += done;
 *             length -= done;
 *             offset = 0;
 *             pfn_reader_unpin(&pfns);
 *
 *             rc = pfn_reader_next(&pfns);
 *
 * The fault drops pfn_reader_unpin() (it looked redundant next to
 * pfn_reader_destroy(), which only releases pages not yet moved to the
 * batch). Every slow-path read or write of an area no domain pins leaves its
 * pages pinned with no owner: npinned grows, pfn_reader_destroy's final
 * update charges them to locked_vm/pinned_vm for good, nothing can ever
 * unpin them, and a user can exhaust RLIMIT_MEMLOCK (and pin arbitrary
 * amounts of memory, defeating compaction/migration) just by issuing
 * access reads. When the area is later unmapped its iopt_pages is released
 * still holding pins.
 *
 * Applied as: IOMMU_TEST_OP_ACCESS_RW runs the shared copy of
 * iommufd_test_access_rw → iommufd_access_rw (_access_rw.ts) over a copy of
 * iopt_pages_rw_access whose multi-page slow path gives back only the holds
 * on pages that were already pinned.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation } from '../harness.ts';
import { EPERM } from '../../../impl/lib/errno.ts';
import { IOMMU_TEST_OP_ACCESS_RW } from '../../../spec/uapi/constants.ts';
import { ioptPagesHold, ioptPagesRelease, ioptPagesRwAccess } from '../../../impl/iommufd/pages.ts';
import { PAGE_SIZE, type IoptPages } from '../../../impl/iommufd/iommufd_private.ts';
import { accessRwHandler } from './_access_rw.ts';

/** iopt_pages_rw_access with the fault in its iopt_pages_rw_slow branch. */
function pagesRwAccess(pages: IoptPages, startByte: number, data: Uint8Array, write: boolean, slowPath = false): number {
  const startIndex = Math.floor(startByte / PAGE_SIZE);
  const lastIndex = Math.floor((startByte + data.length - 1) / PAGE_SIZE);
  if (!slowPath || startIndex === lastIndex) return ioptPagesRwAccess(pages, startByte, data, write, slowPath);
  if (write && !pages.writable) return -EPERM;
  // iopt_pages_rw_slow: what domains and accesses hold is read from them, the rest pinned by the reader.
  const alreadyHeld: number[] = [];
  for (let i = startIndex; i <= lastIndex; i++) if (pages.pinned.has(i)) alreadyHeld.push(i);
  const held = ioptPagesHold(pages, startIndex, lastIndex);
  if (held.errno) return held.errno;
  const phys = pages.proc.phys.u8;
  let done = 0;
  for (let i = startIndex; i <= lastIndex; i++) {
    const off = i === startIndex ? startByte % PAGE_SIZE : 0;
    const n = Math.min(PAGE_SIZE - off, data.length - done);
    const pa = held.value![i - startIndex]! * PAGE_SIZE + off;
    if (write) phys.set(data.subarray(done, done + n), pa);
    else data.set(phys.subarray(pa, pa + n), done);
    done += n;
  }
  // THE FAULT: no pfn_reader_unpin(): the pages the reader pinned itself stay pinned (and charged).
  for (const i of alreadyHeld) ioptPagesRelease(pages, i, i);
  return 0;
}

const testAccessRw = accessRwHandler({ pagesRw: pagesRwAccess });

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('rw-slow-skips-reader-unpin', profile, {
    handlers: { IOMMU_TEST_CMD: (ucmd, original) => (ucmd.cmd.num('op') === IOMMU_TEST_OP_ACCESS_RW ? testAccessRw(ucmd) : original(ucmd)) },
  });
}
