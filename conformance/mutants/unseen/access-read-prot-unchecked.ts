/**
 * access-read-prot-unchecked (drivers/iommu/iommufd/device.c check_area_prot,
 * used by iommufd_access_pin_pages and iommufd_access_rw).
 *
 * An in-kernel access (an emulated/mediated device: the selftest's
 * staccess) must respect the protection the user gave each IOAS area, as
 * the IOMMU does for real DMA. Both access paths ask check_area_prot for
 * every area they cross:
 *     static bool check_area_prot(struct iopt_area *area, unsigned int flags)
 *     {
 *             if (flags & IOMMUFD_ACCESS_RW_WRITE)
 *                     return area->iommu_prot & IOMMU_WRITE;
 *             return area->iommu_prot & IOMMU_READ;
 *     }
 * The fault loses the read half (`return true;` after the write test, as if
 * every mapping were readable): a read access is never refused with EPERM.
 *
 * The page-level guard does not cover it: iopt_area_add_access and
 * iopt_pages_rw_access only refuse a *write* to pages that are not writable;
 * the read permission lives only in the area's iommu_prot.
 *
 * Consequence: an area mapped IOMMU_IOAS_MAP_WRITEABLE without _READABLE
 * (a device-to-host buffer that the device may only fill), or an
 * IOMMU_IOAS_COPY made write-only, is readable through every access of the
 * IOAS: IOMMU_TEST_OP_ACCESS_RW without MOCK_ACCESS_RW_WRITE copies the
 * user's memory out (ret 0 instead of EPERM), and IOMMU_TEST_OP_ACCESS_PAGES
 * without MOCK_FLAGS_ACCESS_WRITE pins the pages and hands them to the
 * driver for reading — the emulated device reads memory that a real device
 * behind the IOMMU would fault on (the mock domain maps the area without
 * IOMMU_READ).
 *
 * Applied as: IOMMU_TEST_CMD's ACCESS_RW and ACCESS_PAGES ops through a copy
 * of iommufd_test_access_rw / iommufd_access_rw and iommufd_test_access_pages
 * / iommufd_access_pin_pages whose check_area_prot is the faulty one; every
 * other step (and every fail-nth site, in order) is the reference's.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation } from '../harness.ts';
import { EBADE, EBADFD, EFAULT, EINVAL, ENOENT, ENOMEM, EOPNOTSUPP, EOVERFLOW, EPERM } from '../../../impl/lib/errno.ts';
import {
  IOMMU_TEST_OP_ACCESS_PAGES,
  IOMMU_TEST_OP_ACCESS_RW,
  MOCK_ACCESS_RW_SLOW_PATH,
  MOCK_ACCESS_RW_WRITE,
  MOCK_FLAGS_ACCESS_SYZ,
  MOCK_FLAGS_ACCESS_WRITE,
} from '../../../spec/uapi/constants.ts';
import { IOMMU_WRITE, ioptAreaContig, ioptAreaIovaToIndex, ioptAreaStartByte } from '../../../impl/iommufd/io_pagetable.ts';
import { ioptAreaAddAccess, ioptAreaRemoveAccess, ioptPagesRwAccess } from '../../../impl/iommufd/pages.ts';
import { iommufdUcmdRespond, PAGE_SIZE, ULONG_MAX, type IoptArea, type Ucmd } from '../../../impl/iommufd/iommufd_private.ts';
import { SelftestAccess, syzConvIova } from '../../../impl/iommufd/selftest.ts';
import { iommufdAccessUnpinPages, type IommufdAccess } from '../../../impl/iommufd/access.ts';
import { err, ok, type Result } from '../../../impl/iommufd/object.ts';
import type { KFile } from '../../../impl/process/file.ts';
import { Unwind } from '../../../impl/lib/unwind.ts';

const SZ_16M = 16 * 1024 * 1024;
const P = BigInt(PAGE_SIZE);

/** check_area_prot with the fault: the read permission is not looked at. */
function checkAreaProt(area: IoptArea, write: boolean): boolean {
  if (write) return (area.iommuProt & IOMMU_WRITE) !== 0;
  return true; // THE FAULT: was `area->iommu_prot & IOMMU_READ`
}

/** iopt_area_contig_is_aligned */
function contigIsAligned(area: IoptArea, cur: bigint, isLastPiece: boolean): boolean {
  if (ioptAreaStartByte(area, cur) % P) return false;
  if (!isLastPiece && ioptAreaStartByte(area, area.last) % P !== P - 1n) return false;
  return true;
}

/** iommufd_access_rw */
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
    if (!checkAreaProt(area, write)) return -EPERM;
    const rc = ioptPagesRwAccess(area.pages!, Number(ioptAreaStartByte(area, cur)), data.subarray(off, off + bytes), write, slowPath);
    if (rc) return rc;
    off += bytes;
  }
  return done ? 0 : -ENOENT;
}

/** iommufd_access_pin_pages */
function accessPinPages(access: IommufdAccess, iova: bigint, length: bigint, write: boolean): Result<number[]> {
  if (!access.ops.needsPinPages) return err(-EINVAL);
  if (!length) return err(-EINVAL);
  const last = iova + length - 1n;
  if (last > ULONG_MAX) return err(-EOVERFLOW);
  const ioas = access.ioas;
  if (!ioas) return err(-ENOENT);
  const { pieces, done } = ioptAreaContig(ioas.iopt, iova, last);
  const out: number[] = [];
  const unwind = new Unwind();
  for (const { area, cur } of pieces) {
    const pieceLast = last < area.last ? last : area.last;
    const isLastPiece = pieceLast === last;
    if (area.preventAccess || !contigIsAligned(area, cur, isLastPiece)) return unwind.exit(err(-EINVAL));
    if (!checkAreaProt(area, write)) return unwind.exit(err(-EPERM));
    const first = ioptAreaIovaToIndex(area, cur);
    const lastIndex = ioptAreaIovaToIndex(area, pieceLast);
    const r = ioptAreaAddAccess(area, first, lastIndex, write);
    if (r.errno) return unwind.exit(err(r.errno));
    unwind.onError('err_remove', () => ioptAreaRemoveAccess(area, first, lastIndex));
    out.push(...r.value!);
  }
  if (!done) return unwind.exit(err(-ENOENT));
  return unwind.exit(ok(out));
}

/** iommufd_access_get: the selftest access behind fd `fd` (with a file reference), or EBADFD. */
function accessGet(ucmd: Ucmd, fd: number): { errno: number; staccess?: SelftestAccess; file?: KFile } {
  const file = ucmd.ctx.proc.fds.fget(fd);
  if (!file) return { errno: -EBADFD };
  if (file.kind !== 'selftest-access' || !(file.private_data instanceof SelftestAccess)) {
    file.put();
    return { errno: -EBADFD };
  }
  return { errno: 0, staccess: file.private_data, file };
}

/** iommufd_test_check_pages */
function checkPages(ucmd: Ucmd, uptr: bigint, pfns: readonly number[]): number {
  for (let i = 0; i < pfns.length; i++) {
    const t = ucmd.ctx.proc.translateVa(uptr + BigInt(i) * P);
    if (!t || !t.prot.read) return -EFAULT;
    if (t.pfn !== pfns[i]) return -EBADE;
  }
  return 0;
}

/** iommufd_test_access_pages */
function testAccessPages(ucmd: Ucmd): number {
  const { cmd, ctx } = ucmd;
  let iova = cmd.big('access_pages.iova');
  const length = cmd.big('access_pages.length');
  const uptr = cmd.big('access_pages.uptr');
  const flags = cmd.num('access_pages.flags');
  if (length > BigInt(SZ_16M)) return -ENOMEM;
  if (flags & ~(MOCK_FLAGS_ACCESS_WRITE | MOCK_FLAGS_ACCESS_SYZ)) return -EOPNOTSUPP;
  const g = accessGet(ucmd, cmd.num('id'));
  if (g.errno) return g.errno;
  const staccess = g.staccess!;
  const unwind = new Unwind();
  unwind.always('out_put', () => g.file!.put());
  if (!staccess.needsPin) return unwind.exit(-EOPNOTSUPP);
  if (flags & MOCK_FLAGS_ACCESS_SYZ) iova = syzConvIova(staccess.access!, iova);
  if (ctx.faults.shouldFail()) return unwind.exit(-ENOMEM); // kvcalloc(pages)
  const pinned = accessPinPages(staccess.access!, iova, length, (flags & MOCK_FLAGS_ACCESS_WRITE) !== 0);
  if (pinned.errno) return unwind.exit(pinned.errno);
  unwind.onError('out_unaccess', () => iommufdAccessUnpinPages(staccess.access!, iova, length));
  if (uptr) {
    const rc = checkPages(ucmd, uptr - (iova % P), pinned.value!);
    if (rc) return unwind.exit(rc);
  }
  if (ctx.faults.shouldFail()) return unwind.exit(-ENOMEM); // kzalloc(item)
  const item = { iova, length, id: staccess.nextId++ };
  staccess.items.push(item);
  unwind.onError('out_free_item', () => staccess.items.splice(staccess.items.indexOf(item), 1));
  cmd.set('access_pages.out_access_pages_id', item.id);
  return unwind.exit(iommufdUcmdRespond(ucmd));
}

/** iommufd_test_access_rw */
function testAccessRw(ucmd: Ucmd): number {
  const { cmd, ctx } = ucmd;
  let iova = cmd.big('access_rw.iova');
  const length = cmd.big('access_rw.length');
  const ubuf = cmd.big('access_rw.uptr');
  const flags = cmd.num('access_rw.flags');
  if (length > BigInt(SZ_16M)) return -ENOMEM;
  if (flags & ~(MOCK_ACCESS_RW_WRITE | MOCK_ACCESS_RW_SLOW_PATH | MOCK_FLAGS_ACCESS_SYZ)) return -EOPNOTSUPP;
  const g = accessGet(ucmd, cmd.num('id'));
  if (g.errno) return g.errno;
  const unwind = new Unwind();
  unwind.always('out_put', () => g.file!.put());
  if (ctx.faults.shouldFail()) return unwind.exit(-ENOMEM); // kvzalloc(tmp)
  let tmp: Uint8Array = new Uint8Array(Number(length));
  const write = (flags & MOCK_ACCESS_RW_WRITE) !== 0;
  if (write) {
    const b = ctx.proc.copyFromUser(ubuf, Number(length));
    if (!b) return unwind.exit(-EFAULT);
    tmp = b;
  }
  if (flags & MOCK_FLAGS_ACCESS_SYZ) iova = syzConvIova(g.staccess!.access!, iova);
  const rc = accessRw(g.staccess!.access!, iova, tmp, write, (flags & MOCK_ACCESS_RW_SLOW_PATH) !== 0);
  if (rc) return unwind.exit(rc);
  if (!write && !ctx.proc.copyToUser(ubuf, tmp)) return unwind.exit(-EFAULT);
  return unwind.exit(0);
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('access-read-prot-unchecked', profile, {
    handlers: {
      IOMMU_TEST_CMD: (ucmd, original) => {
        const op = ucmd.cmd.num('op');
        if (op === IOMMU_TEST_OP_ACCESS_RW) return testAccessRw(ucmd);
        if (op === IOMMU_TEST_OP_ACCESS_PAGES) return testAccessPages(ucmd);
        return original(ucmd);
      },
    },
  });
}
