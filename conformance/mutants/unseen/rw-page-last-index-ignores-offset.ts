/**
 * rw-page-last-index-ignores-offset (drivers/iommu/iommufd/pages.c,
 * iopt_pages_rw_access → iopt_pages_rw_page / iopt_pages_rw_slow).
 *
 * iopt_pages_rw_access turns the byte range of one area's piece into page
 * indexes of the iopt_pages before choosing how to copy:
 *     unsigned long start_index = start_byte / PAGE_SIZE;
 *     unsigned long last_index = (start_byte + length - 1) / PAGE_SIZE;
 * and, when the copy has to go through the pages rather than the caller's own
 * mm (change_mm: a kthread user, the selftest's MOCK_ACCESS_RW_SLOW_PATH), a
 * range inside one page goes to iopt_pages_rw_page (pin that one page with
 * pin_user_pages_remote, copy_data_page = kmap + memcpy(mem + offset, ...,
 * length), unpin), anything longer to iopt_pages_rw_slow (the pfn reader over
 * [start_index, last_index], WARN_ON(length != 0) → -EINVAL at the end).
 *
 * The fault computes the last index from the length alone,
 *     unsigned long last_index = start_index + (length - 1) / PAGE_SIZE;
 * forgetting the offset of start_byte inside its first page. Whenever
 * (start_byte % PAGE_SIZE) + ((length - 1) % PAGE_SIZE) >= PAGE_SIZE the
 * range is counted one page short:
 *   - a copy of at most a page that crosses a page boundary is taken for a
 *     single-page copy: iopt_pages_rw_page pins the first page only and
 *     copy_data_page's memcpy runs past its end into the physically next
 *     frame — whatever that frame is (another buffer's page, another
 *     process's memory, an IOMMU page table). A read returns those bytes to
 *     the caller, a write corrupts them; the bytes that really sit at those
 *     IOVAs (the next page of the mapping) are neither read nor written;
 *   - a longer copy pins one page too few, copies short, WARNs and fails
 *     with EINVAL after a write has already stored its first part.
 * The fast path (copy_to_user/copy_from_user on the caller's own mm) does
 * not use the indexes and is unaffected.
 *
 * Consequence for a user of /dev/iommu: IOMMU_TEST_OP_ACCESS_RW with
 * MOCK_ACCESS_RW_SLOW_PATH at an offset that crosses a page boundary (an
 * emulated device's DMA through an iommufd_access from a kthread) reads
 * memory the IOAS does not map (a physical-memory disclosure) and writes
 * into it (corruption of memory outside every mapping).
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { EFAULT, EINVAL, EPERM } from '../../../impl/lib/errno.ts';
import { IOMMU_TEST_OP_ACCESS_RW } from '../../../spec/uapi/constants.ts';
import { PAGE_SIZE, type IoptPages } from '../../../impl/iommufd/iommufd_private.ts';
import { ioptPagesHold, ioptPagesRelease } from '../../../impl/iommufd/pages.ts';
import { mutantImplementation } from '../harness.ts';
import { accessRwHandler } from './_access_rw.ts';

const P = BigInt(PAGE_SIZE);

/**
 * copy_data_page: kmap_local_page(page) + memcpy(mem + offset, data, length).
 * Nothing bounds offset + length by PAGE_SIZE: past the page the copy goes on
 * in the next physical frame (the direct map is contiguous), up to the end of
 * the simulated RAM.
 */
function copyDataPage(pages: IoptPages, pfn: number, offset: number, data: Uint8Array, write: boolean): void {
  const mem = pages.proc.phys.u8;
  const pa = pfn * PAGE_SIZE + offset;
  const n = Math.max(0, Math.min(data.length, mem.length - pa));
  if (write) mem.set(data.subarray(0, n), pa);
  else data.set(mem.subarray(pa, pa + n));
}

/** iopt_pages_rw_access with the faulty last_index. */
function pagesRwAccess(pages: IoptPages, startByte: number, data: Uint8Array, write: boolean, slowPath = false): number {
  const proc = pages.proc;
  const startIndex = Math.floor(startByte / PAGE_SIZE);
  // THE FAULT: (start_byte + length - 1) / PAGE_SIZE, written from the length alone.
  const lastIndex = startIndex + Math.floor((data.length - 1) / PAGE_SIZE);
  if (write && !pages.writable) return -EPERM;
  if (!slowPath) {
    // The fast path: copy_to_user/copy_from_user at pages->uptr + start_byte (no indexes).
    const va = pages.uptr + BigInt(startByte);
    if (write) return proc.copyToUser(va, data) ? 0 : -EFAULT;
    const b = proc.copyFromUser(va, data.length);
    if (!b) return -EFAULT;
    data.set(b);
    return 0;
  }
  if (startIndex === lastIndex) {
    // iopt_pages_rw_page: one page pinned, the whole length copied from it.
    if (proc.faults.shouldFail()) return -EINVAL;
    const r = proc.pinUserPages(pages.uptr + BigInt(startIndex) * P, 1, write);
    if (r.errno || !('pfns' in r)) return r.errno || -EFAULT;
    copyDataPage(pages, r.pfns[0]!, startByte % PAGE_SIZE, data, write);
    proc.unpinUserPage(r.pfns[0]!);
    return 0;
  }
  // iopt_pages_rw_slow over [start_index, last_index]: batch_rw copies what the batch holds.
  const held = ioptPagesHold(pages, startIndex, lastIndex);
  if (held.errno) return held.errno;
  let done = 0;
  for (let i = startIndex; i <= lastIndex && done < data.length; i++) {
    const off = i === startIndex ? startByte % PAGE_SIZE : 0;
    const n = Math.min(PAGE_SIZE - off, data.length - done);
    const pa = held.value![i - startIndex]! * PAGE_SIZE + off;
    const mem = proc.phys.u8;
    if (write) mem.set(data.subarray(done, done + n), pa);
    else data.subarray(done, done + n).set(mem.subarray(pa, pa + n));
    done += n;
  }
  ioptPagesRelease(pages, startIndex, lastIndex);
  if (done !== data.length) {
    // if (WARN_ON(length != 0)) rc = -EINVAL;
    proc.warnings.push(`iopt_pages_rw_slow: WARN_ON(length != 0): ${data.length - done} byte(s) left`);
    return -EINVAL;
  }
  return 0;
}

/** IOMMU_TEST_OP_ACCESS_RW over iommufd_access_rw with the faulty iopt_pages_rw_access. */
const accessRw = accessRwHandler({ pagesRw: pagesRwAccess });

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('rw-page-last-index-ignores-offset', profile, {
    handlers: {
      IOMMU_TEST_CMD: (ucmd, original) => (ucmd.cmd.num('op') === IOMMU_TEST_OP_ACCESS_RW ? accessRw(ucmd) : original(ucmd)),
    },
  });
}
