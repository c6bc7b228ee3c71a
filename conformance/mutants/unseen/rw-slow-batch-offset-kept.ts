/**
 * rw-slow-batch-offset-kept (batch_rw, drivers/iommu/iommufd/pages.c, as
 * iopt_pages_rw_slow calls it; reached by iommufd_access_rw on another mm's
 * pages, here IOMMU_TEST_OP_ACCESS_RW with MOCK_ACCESS_RW_SLOW_PATH when the
 * range spans more than one page; 6.12 and 7.3).
 *
 * The kernel's code (6.12 and 7.3 alike):
 *
 *     static unsigned long batch_rw(struct pfn_batch *batch, void *data,
 *                                   unsigned long offset, unsigned long length,
 *                                   unsigned int flags)
 *     {
 *             unsigned long copied = 0;
 *             unsigned int npage = 0;
 *             unsigned int cur = 0;
 *
 *             while (cur < batch->end) {
 *                     unsigned long bytes = min(length, PAGE_SIZE - offset);
 *
 *                     copy_data_page(pfn_to_page(batch->pfns[cur] + npage), data,
 *                                    offset, bytes, flags);
 *                     offset = 0;
 *                     length -= bytes;
 *                     data += bytes;
 *                     copied += bytes;
 *                     npage++;
 *                     ...
 *
 * and iopt_pages_rw_slow resets `offset = 0` after each batch, then
 * WARN_ON(length != 0) -> -EINVAL once the reader is done.
 *
 * Only the first page of the whole copy starts at the in-page offset of
 * start_byte; every later page is copied from its byte 0.
 *
 * The fault: the `offset = 0;` inside batch_rw's loop is lost (the reset
 * looks redundant next to the one in iopt_pages_rw_slow, which only runs
 * between batches). Every page of the first batch is then copied at the
 * first page's offset: a read returns bytes from [offset, PAGE_SIZE) of each
 * later page instead of [0, ...), and a write stores them there, i.e. past
 * the IOVA range the caller named and, when the area ends inside the last
 * page, into user memory the IOAS does not map at all. Each page moves only
 * PAGE_SIZE - offset bytes, so a copy that needs the whole of a middle page
 * runs out of pages and ends with the WARN's -EINVAL after having copied
 * the wrong bytes.
 *
 * The batch is modelled as the kernel fills it: runs of consecutive frames,
 * at most min(npages, iommufd_test_memory_limit) / 12 runs per batch
 * (sizeof(unsigned long) + sizeof(u32) per entry); with the default limit a
 * 16 MiB ACCESS_RW is one batch.
 *
 * Applied as: IOMMU_TEST_OP_ACCESS_RW runs the shared copy of
 * iommufd_test_access_rw -> iommufd_access_rw with iopt_pages_rw_access
 * whose multi-page slow path (iopt_pages_rw_slow) copies through the faulty
 * batch_rw; the pins and fault-injection sites are the reference's
 * (ioptPagesHold / ioptPagesRelease).
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { IOMMU_TEST_OP_ACCESS_RW } from '../../../spec/uapi/constants.ts';
import { EINVAL } from '../../../impl/lib/errno.ts';
import { PAGE_SIZE, type IoptPages } from '../../../impl/iommufd/iommufd_private.ts';
import { ioptPagesHold, ioptPagesRelease, ioptPagesRwAccess } from '../../../impl/iommufd/pages.ts';
import { iommufdTestMemoryLimit } from '../../../impl/iommufd/selftest.ts';
import { mutantImplementation } from '../harness.ts';
import { accessRwHandler } from './_access_rw.ts';

/** sizeof(*batch->pfns) + sizeof(*batch->npfns) on a 64-bit kernel. */
const BATCH_ELMSZ = 8 + 4;

/** copy_data_page over one frame. */
function copyDataPage(pages: IoptPages, pfn: number, offset: number, data: Uint8Array, write: boolean): void {
  const pa = pfn * PAGE_SIZE + offset;
  if (write) pages.proc.phys.u8.set(data, pa);
  else data.set(pages.proc.phys.u8.subarray(pa, pa + data.length));
}

/** The pfn reader's batches over the frames of [start, last]: each a list of frames (runs of consecutive pfns, array_size runs at most). */
function batchesOf(pfns: readonly number[]): number[][] {
  const size = Math.min(pfns.length * BATCH_ELMSZ, iommufdTestMemoryLimit);
  const arraySize = Math.max(1, Math.floor(size / BATCH_ELMSZ));
  const out: number[][] = [];
  let cur: number[] = [];
  let runs = 0;
  for (const pfn of pfns) {
    const contiguous = cur.length > 0 && pfn === cur[cur.length - 1]! + 1;
    if (!contiguous) {
      if (runs === arraySize) {
        out.push(cur);
        cur = [];
        runs = 0;
      }
      runs++;
    }
    cur.push(pfn);
  }
  if (cur.length) out.push(cur);
  return out;
}

/** batch_rw with THE FAULT: `offset = 0` is not done after the first page, so every page is copied from `offset`. */
function batchRwKeepsOffset(pages: IoptPages, batch: readonly number[], data: Uint8Array, offset: number, write: boolean): number {
  let copied = 0;
  let length = data.length;
  for (const pfn of batch) {
    const bytes = Math.min(length, PAGE_SIZE - offset);
    copyDataPage(pages, pfn, offset, data.subarray(copied, copied + bytes), write);
    // (the kernel's `offset = 0;` is missing here)
    length -= bytes;
    copied += bytes;
    if (!length) break;
  }
  return copied;
}

/** iopt_pages_rw_access whose multi-page slow path is iopt_pages_rw_slow over the faulty batch_rw. */
function pagesRwAccess(pages: IoptPages, startByte: number, data: Uint8Array, write: boolean, slowPath = false): number {
  const startIndex = Math.floor(startByte / PAGE_SIZE);
  const lastIndex = Math.floor((startByte + data.length - 1) / PAGE_SIZE);
  if (!slowPath || startIndex === lastIndex || (write && !pages.writable)) return ioptPagesRwAccess(pages, startByte, data, write, slowPath);
  // iopt_pages_rw_slow: pfn_reader_first .. pfn_reader_destroy, the reference's pins (uncharged).
  const held = ioptPagesHold(pages, startIndex, lastIndex, 'later');
  if (held.errno) return held.errno;
  let offset = startByte % PAGE_SIZE;
  let done = 0;
  for (const batch of batchesOf(held.value!)) {
    done += batchRwKeepsOffset(pages, batch, data.subarray(done), offset, write);
    offset = 0; // iopt_pages_rw_slow's own reset, between batches
  }
  ioptPagesRelease(pages, startIndex, lastIndex);
  if (done !== data.length) return -EINVAL; // WARN_ON(length != 0)
  return 0;
}

export function createAdapter(profile: Profile): Implementation {
  const accessRw = accessRwHandler({ pagesRw: pagesRwAccess });
  return mutantImplementation('rw-slow-batch-offset-kept', profile, {
    handlers: {
      IOMMU_TEST_CMD: (ucmd, original) => (ucmd.cmd.num('op') === IOMMU_TEST_OP_ACCESS_RW ? accessRw(ucmd) : original(ucmd)),
    },
  });
}
