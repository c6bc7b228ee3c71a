/**
 * Shared by the faults in iopt_pages_rw_slow (pages.c), the multi-page
 * slow path of an access read or write (IOMMU_TEST_OP_ACCESS_RW with
 * MOCK_ACCESS_RW_SLOW_PATH): a copy of the reference's
 * iopt_pages_rw_access whose slow path takes the pages through a pfn_reader
 * (`hold`), copies the bytes through their frames, and gives back what the
 * reader took (`release`: pfn_reader_destroy). The fast path and a
 * single-page access are the reference's.
 */
import { EPERM } from '../../../impl/lib/errno.ts';
import type { Result } from '../../../impl/iommufd/object.ts';
import { ioptPagesRwAccess } from '../../../impl/iommufd/pages.ts';
import { PAGE_SIZE, type IoptPages } from '../../../impl/iommufd/iommufd_private.ts';

export interface RwSlowSteps {
  /** pfn_reader_first..next: the frames of pages [start, last], pinned where nothing holds them. */
  readonly hold: (pages: IoptPages, start: number, last: number) => Result<number[]>;
  /** pfn_reader_destroy, once the bytes are copied: 0 or -errno. `wasHeld`: the indexes a domain or an access held before. */
  readonly release: (pages: IoptPages, start: number, last: number, wasHeld: readonly number[]) => number;
}

/** iopt_pages_rw_access whose iopt_pages_rw_slow runs over the given steps. */
export function pagesRwWith({ hold, release }: RwSlowSteps): typeof ioptPagesRwAccess {
  return (pages, startByte, data, write, slowPath = false) => {
    const startIndex = Math.floor(startByte / PAGE_SIZE);
    const lastIndex = Math.floor((startByte + data.length - 1) / PAGE_SIZE);
    if (!slowPath || startIndex === lastIndex) return ioptPagesRwAccess(pages, startByte, data, write, slowPath);
    if (write && !pages.writable) return -EPERM;
    const wasHeld: number[] = [];
    for (let i = startIndex; i <= lastIndex; i++) if (pages.pinned.has(i)) wasHeld.push(i);
    const held = hold(pages, startIndex, lastIndex);
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
    return release(pages, startIndex, lastIndex, wasHeld);
  };
}
