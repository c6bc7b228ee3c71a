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
 * Applied as: IOMMU_TEST_OP_ACCESS_RW is a copy of iommufd_test_access_rw
 * → iommufd_access_rw → iopt_pages_rw_access whose multi-page slow path
 * gives back only the holds on pages that were already pinned.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation } from '../harness.ts';
import { EBADFD, EFAULT, EINVAL, ENOENT, ENOMEM, EOPNOTSUPP, EOVERFLOW, EPERM } from '../../../impl/lib/errno.ts';
import { IOMMU_TEST_OP_ACCESS_RW, MOCK_ACCESS_RW_SLOW_PATH, MOCK_ACCESS_RW_WRITE, MOCK_FLAGS_ACCESS_SYZ } from '../../../spec/uapi/constants.ts';
import { IOMMU_READ, IOMMU_WRITE, ioptAreaContig, ioptAreaStartByte } from '../../../impl/iommufd/io_pagetable.ts';
import { ioptPagesHold, ioptPagesRelease, ioptPagesRwAccess } from '../../../impl/iommufd/pages.ts';
import { PAGE_SIZE, ULONG_MAX, type IoPagetable, type IoptPages, type Ucmd } from '../../../impl/iommufd/iommufd_private.ts';
import { SelftestAccess } from '../../../impl/iommufd/selftest.ts';
import type { IommufdAccess } from '../../../impl/iommufd/access.ts';

const SZ_16M = 16 * 1024 * 1024;

/** iopt_pages_rw_access with the fault in its iopt_pages_rw_slow branch. */
function pagesRwAccess(pages: IoptPages, startByte: number, data: Uint8Array, write: boolean, slowPath: boolean): number {
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

/** iommufd_access_rw (unchanged but for the iopt_pages_rw_access it calls). */
function accessRw(access: IommufdAccess, iova: bigint, data: Uint8Array, write: boolean, slowPath: boolean): number {
  if (!data.length) return -EINVAL;
  const last = iova + BigInt(data.length) - 1n;
  if (last > ULONG_MAX) return -EOVERFLOW;
  const ioas = access.ioas;
  if (!ioas) return -ENOENT;
  const { pieces, done } = ioptAreaContig(ioas.iopt, iova, last);
  let off = 0;
  for (const { area, cur } of pieces) {
    const pieceLast = last < area.last ? last : area.last;
    const bytes = Number(pieceLast - cur + 1n);
    if (area.preventAccess) return -EINVAL;
    if (!(area.iommuProt & (write ? IOMMU_WRITE : IOMMU_READ))) return -EPERM;
    const rc = pagesRwAccess(area.pages!, Number(ioptAreaStartByte(area, cur)), data.subarray(off, off + bytes), write, slowPath);
    if (rc) return rc;
    off += bytes;
  }
  return done ? 0 : -ENOENT;
}

/** syzkaller's { u32 nth_area; u32 offset } IOVA encoding. */
function syzConv(iopt: IoPagetable | undefined, iova: bigint): bigint {
  if (!iopt) return 0n;
  const area = iopt.areas[Number(BigInt.asUintN(32, iova))];
  return area ? area.start + BigInt.asUintN(32, iova >> 32n) : 0n;
}

/** iommufd_test_access_rw (unchanged but for the iommufd_access_rw it calls). */
function testAccessRw(ucmd: Ucmd): number {
  const { cmd, ctx } = ucmd;
  let iova = cmd.big('access_rw.iova');
  const length = cmd.big('access_rw.length');
  const ubuf = cmd.big('access_rw.uptr');
  const flags = cmd.num('access_rw.flags');
  if (length > BigInt(SZ_16M)) return -ENOMEM;
  if (flags & ~(MOCK_ACCESS_RW_WRITE | MOCK_ACCESS_RW_SLOW_PATH | MOCK_FLAGS_ACCESS_SYZ)) return -EOPNOTSUPP;
  const file = ctx.proc.fds.fget(cmd.num('id'));
  if (!file) return -EBADFD;
  try {
    if (file.kind !== 'selftest-access' || !(file.private_data instanceof SelftestAccess)) return -EBADFD;
    const staccess = file.private_data;
    if (ctx.faults.shouldFail()) return -ENOMEM;
    let tmp: Uint8Array = new Uint8Array(Number(length));
    const write = (flags & MOCK_ACCESS_RW_WRITE) !== 0;
    if (write) {
      const b = ctx.proc.copyFromUser(ubuf, Number(length));
      if (!b) return -EFAULT;
      tmp = b;
    }
    if (flags & MOCK_FLAGS_ACCESS_SYZ) iova = syzConv(staccess.access!.ioas?.iopt, iova);
    const rc = accessRw(staccess.access!, iova, tmp, write, (flags & MOCK_ACCESS_RW_SLOW_PATH) !== 0);
    if (rc) return rc;
    if (!write && !ctx.proc.copyToUser(ubuf, tmp)) return -EFAULT;
    return 0;
  } finally {
    file.put();
  }
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('rw-slow-skips-reader-unpin', profile, {
    handlers: { IOMMU_TEST_CMD: (ucmd, original) => (ucmd.cmd.num('op') === IOMMU_TEST_OP_ACCESS_RW ? testAccessRw(ucmd) : original(ucmd)) },
  });
}
