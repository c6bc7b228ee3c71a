/**
 * IOMMU_TEST_CMD (CONFIG_IOMMUFD_TEST). Mirrors drivers/iommu/iommufd/selftest.c:
 * iommufd_test (op dispatch; unknown op -> EOPNOTSUPP), iommufd_test_add_reserved,
 * iommufd_test_md_check_refs, the selftest access (struct selftest_access and
 * its file: iommufd_test_create_access, iommufd_test_access_pages,
 * iommufd_test_access_rw, iommufd_test_access_item_destroy,
 * iommufd_test_access_replace_ioas, iommufd_test_staccess_release) and
 * SET_TEMP_MEMORY_LIMIT.
 *
 * The mock device ops: iommufd_test_mock_domain (MOCK_DOMAIN,
 * MOCK_DOMAIN_FLAGS), iommufd_test_mock_domain_replace and the selftest
 * object (iommufd_selftest_destroy); the mock domain checks
 * (iommufd_test_md_check_pa, MD_CHECK_IOTLB); and syzkaller's IOVA encoding
 * (iommufd_test_syz_conv_iova*), which ioas.c calls too. The mock IOMMU
 * driver itself (mock_ops) is the simulated machine's: impl/platform/drivers.ts.
 *
 * Public API: iommufdTest(ucmd), iommufdTestServes(op),
 * iommufdTestSyzConvIovaId(ucmd, ioasId, field), class SelftestAccess.
 */
import { KFile } from '../process/file.ts';
import { EBADE, EBADFD, EFAULT, EINVAL, EIO, ENOENT, ENOMEM, EOPNOTSUPP, EOVERFLOW } from '../lib/errno.ts';
import {
  IOMMU_TEST_OP_ACCESS_PAGES,
  IOMMU_TEST_OP_ACCESS_REPLACE_IOAS,
  IOMMU_TEST_OP_ACCESS_RW,
  IOMMU_TEST_OP_ADD_RESERVED,
  IOMMU_TEST_OP_CREATE_ACCESS,
  IOMMU_TEST_OP_DESTROY_ACCESS_PAGES,
  IOMMU_TEST_OP_MD_CHECK_IOTLB,
  IOMMU_TEST_OP_MD_CHECK_MAP,
  IOMMU_TEST_OP_MD_CHECK_REFS,
  IOMMU_TEST_OP_MOCK_DOMAIN,
  IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS,
  IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE,
  IOMMU_TEST_OP_SET_TEMP_MEMORY_LIMIT,
  MOCK_ACCESS_RW_SLOW_PATH,
  MOCK_ACCESS_RW_WRITE,
  MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES,
  MOCK_FLAGS_ACCESS_SYZ,
  MOCK_FLAGS_ACCESS_WRITE,
} from '../../spec/uapi/constants.ts';
import type { IommuDomain, SimDevice } from '../platform/iommu.ts';
import { MOCK_IO_PAGE_SIZE } from '../platform/iommu.ts';
import { iommufdGetObject, iommufdObjectAbort, iommufdObjectAlloc, iommufdObjectFinalize, type IommufdObject, type Result } from './object.ts';
import {
  type IommufdCtx,
  type IommufdDevice,
  iommufdGetHwptPaging,
  iommufdGetIoas,
  type IommufdHwptPaging,
  iommufdUcmdRespond,
  type IoPagetable,
  PAGE_SIZE,
  type Ucmd,
  ULONG_MAX,
} from './iommufd_private.ts';
import { ioptReserveIova } from './io_pagetable.ts';
import { Unwind } from '../lib/unwind.ts';
import { iommufdDeviceAttach, iommufdDeviceBind, iommufdDeviceDetach, iommufdDeviceReplace, iommufdDeviceUnbind } from './device.ts';
import {
  iommufdAccessAttach,
  iommufdAccessCreate,
  iommufdAccessDestroy,
  iommufdAccessPinPages,
  iommufdAccessReplace,
  iommufdAccessRw,
  iommufdAccessUnpinPages,
  type IommufdAccess,
  type IommufdAccessOps,
} from './access.ts';

const SZ_16M = 16 * 1024 * 1024;
const P = BigInt(PAGE_SIZE);

// ---- the mock device (selftest.c) ------------------------------------------------------

/** struct selftest_obj (TYPE_IDEV): owns a mock device bound and attached in this ctx. */
interface SelftestObj extends IommufdObject {
  readonly type: 'SELFTEST';
  mockDev: SimDevice | null;
  idev: IommufdDevice | null;
}

/** iommufd_selftest_destroy: detach, unbind, delete the mock device. */
function iommufdSelftestDestroy(sobj: SelftestObj): void {
  if (sobj.idev) {
    iommufdDeviceDetach(sobj.idev);
    iommufdDeviceUnbind(sobj.idev);
  }
  if (sobj.mockDev) sobj.mockDev.machine.mockDevDestroy(sobj.mockDev);
}

/**
 * iommufd_test_mock_domain: reserve the selftest object id, create the mock
 * device (EINVAL for unknown dev_flags), bind it, attach it to cmd.id, respond.
 * In a fresh ctx whose IOAS is 1 the ids are stdev 2, idev 3, hwpt 4.
 */
function iommufdTestMockDomain(ucmd: Ucmd): number {
  const { cmd, ctx: ictx } = ucmd;
  const machine = ictx.machine;
  const sobj: SelftestObj = { type: 'SELFTEST', id: 0, users: 0, mockDev: null, idev: null, destroy: () => iommufdSelftestDestroy(sobj) };
  let rc = iommufdObjectAlloc(ictx, sobj);
  if (rc) return rc;
  const unwind = new Unwind();
  unwind.onError('out_sobj', () => iommufdObjectAbort(ictx, sobj));
  const devFlags = cmd.num('op') === IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS ? cmd.num('mock_domain_flags.dev_flags') : 0;
  const md = machine.mockDevCreate(devFlags);
  if (!('dev' in md)) return unwind.exit(md.errno);
  const mockDev = md.dev;
  unwind.onError('out_mdev', () => machine.mockDevDestroy(mockDev));
  const b = iommufdDeviceBind(ictx, mockDev);
  if (b.errno || !b.value) return unwind.exit(b.errno);
  const idev = b.value;
  unwind.onError('out_unbind', () => iommufdDeviceUnbind(idev));
  const ptId = { value: cmd.num('id') };
  rc = iommufdDeviceAttach(idev, ptId);
  if (rc) return unwind.exit(rc);
  unwind.onError('out_detach', () => iommufdDeviceDetach(idev));
  cmd.set('mock_domain.out_hwpt_id', ptId.value);
  cmd.set('mock_domain.out_stdev_id', sobj.id);
  cmd.set('mock_domain.out_idev_id', idev.id);
  rc = iommufdUcmdRespond(ucmd);
  if (rc) return unwind.exit(rc);
  sobj.mockDev = mockDev;
  sobj.idev = idev;
  iommufdObjectFinalize(ictx, sobj);
  return unwind.exit(0);
}

/** iommufd_test_mock_domain_replace: cmd.id must be a selftest object (ENOENT), then iommufd_device_replace. */
function iommufdTestMockDomainReplace(ucmd: Ucmd): number {
  const { cmd, ctx: ictx } = ucmd;
  const r = iommufdGetObject<SelftestObj>(ictx, cmd.num('id'), 'SELFTEST');
  if (r.errno || !r.value) return r.errno;
  const idev = r.value.idev;
  if (!idev) return -EINVAL;
  const ptId = { value: cmd.num('mock_domain_replace.pt_id') };
  const rc = iommufdDeviceReplace(idev, ptId);
  if (rc) return rc;
  cmd.set('mock_domain_replace.pt_id', ptId.value);
  return iommufdUcmdRespond(ucmd);
}

// ---- mock domain checks (selftest.c) ------------------------------------------------------

/** get_md_pagetable: a HWPT_PAGING whose domain is the mock driver's, else ENOENT / EINVAL. */
function getMdPagetable(ictx: IommufdCtx, id: number): Result<IommufdHwptPaging> {
  const r = iommufdGetHwptPaging(ictx, id);
  if (r.errno || !r.value) return { errno: r.errno || -ENOENT };
  if (!r.value.domain || r.value.domain.type !== 'paging' || r.value.domain.owner.name !== 'mock') return { errno: -EINVAL };
  return r;
}

/**
 * IOMMU_TEST_OP_MD_CHECK_MAP (iommufd_test_md_check_pa): every 2 KiB IO page
 * of [iova, iova+length) translates to the frame under uptr. EINVAL for
 * misalignment or a mismatch; EFAULT for an unmapped user address.
 */
function iommufdTestMdCheckPa(ictx: IommufdCtx, mockptId: number, iova: bigint, length: bigint, uptr: bigint): number {
  // 6.12 checks alignment (2 KiB) before the lookup; 7.3 looks up first and
  // aligns to the domain's smallest page size.
  let page = BigInt(MOCK_IO_PAGE_SIZE);
  const misaligned = () => iova % page !== 0n || length % page !== 0n || uptr % page !== 0n || uptr + length > ULONG_MAX;
  if (ictx.profile === '6.12' && misaligned()) return -EINVAL;
  const r = getMdPagetable(ictx, mockptId);
  if (r.errno || !r.value) return r.errno;
  const domain = r.value.domain as IommuDomain;
  if (ictx.profile !== '6.12') {
    page = BigInt(domain.minPageSize);
    if (misaligned()) return -EINVAL;
  }
  for (; length > 0n; length -= page, iova += page, uptr += page) {
    const t = ictx.proc.translateVa(uptr - (uptr % 4096n));
    if (!t || !t.prot.read) return -EFAULT; // get_user_pages_fast(.., 0, ..): a read GUP
    const pa = domain.iovaToPhys(Number(iova));
    if (pa < 0 || pa !== t.pfn * 4096 + Number(uptr % 4096n)) return -EINVAL;
  }
  return 0;
}

/**
 * IOMMU_TEST_OP_MD_CHECK_IOTLB: the mock nested domain's IOTLB slot value.
 * Nested HWPTs are the next issue: any id is ENOENT (no HWPT_NESTED exists).
 */
function iommufdTestMdCheckIotlb(ictx: IommufdCtx, mockptId: number): number {
  const r = iommufdGetObject(ictx, mockptId, 'HWPT_NESTED');
  return r.errno || -EINVAL;
}

// ---- syzkaller's IOVA encoding (selftest.c) ----------------------------------------------

/**
 * __iommufd_test_syz_conv_iova: syzkaller encodes an IOVA as { u32 nth_area;
 * u32 offset } (selftest.c's struct syz_layout, little-endian); it becomes
 * the start of the nth area plus offset, or 0 when there is no such area.
 */
function iommufdTestSyzConvIovaInIopt(iopt: IoPagetable, iova: bigint): bigint {
  const nth = Number(BigInt.asUintN(32, iova));
  const offset = BigInt.asUintN(32, iova >> 32n);
  const area = iopt.areas[nth];
  return area ? area.start + offset : 0n;
}

/**
 * iommufd_test_syz_conv_iova_id (called by ioas.c's IOAS_COPY): with the SYZ
 * flag the flag is cleared and, if ioasId is an IOAS, the IOVA decoded.
 */
export function iommufdTestSyzConvIovaId(ucmd: Ucmd, ioasId: number, iovaField: string): void {
  const flags = ucmd.cmd.num('flags');
  if (!(flags & MOCK_FLAGS_ACCESS_SYZ)) return;
  ucmd.cmd.set('flags', flags & ~MOCK_FLAGS_ACCESS_SYZ);
  const r = iommufdGetIoas(ucmd.ctx, ioasId);
  if (r.errno) return;
  ucmd.cmd.set(iovaField, iommufdTestSyzConvIovaInIopt(r.value!.iopt, ucmd.cmd.big(iovaField)));
}

// ---- the selftest access (selftest.c) ---------------------------------------------------

/** iommufd_test_memory_limit: a kernel global; only sizes the kernel's temporary batches. */
export let iommufdTestMemoryLimit = 65536;

interface SelftestAccessItem {
  readonly iova: bigint;
  readonly length: bigint;
  readonly id: number;
}

/** struct selftest_access, private_data of an "[iommufd_test_staccess]" file. */
export class SelftestAccess {
  access: IommufdAccess | null = null;
  items: SelftestAccessItem[] = [];
  nextId = 0;
  file: KFile | null = null;
  needsPin = false;
}

/** iommufd_test_access_unmap: drop every item intersecting the range. */
function iommufdTestAccessUnmap(staccess: SelftestAccess, iova: bigint, length: bigint): void {
  const last = iova + length - 1n;
  for (const item of [...staccess.items]) {
    if (iova > item.iova + item.length - 1n || last < item.iova) continue;
    staccess.items.splice(staccess.items.indexOf(item), 1);
    iommufdAccessUnpinPages(staccess.access!, item.iova, item.length);
  }
}

/** iommufd_test_syz_conv_iova: decode against the access's IOAS (0 when detached). */
export function syzConvIova(access: IommufdAccess, iova: bigint): bigint {
  return access.ioas ? iommufdTestSyzConvIovaInIopt(access.ioas.iopt, iova) : 0n;
}

/** iommufd_access_get: EBADFD for a bad fd or a file that is not a selftest access. */
function iommufdAccessGet(ucmd: Ucmd, fd: number): { errno: number; staccess?: SelftestAccess; file?: KFile } {
  const file = ucmd.ctx.proc.fds.fget(fd);
  if (!file) return { errno: -EBADFD };
  const unwind = new Unwind();
  unwind.onError('fput', () => file.put());
  if (file.kind !== 'selftest-access' || !(file.private_data instanceof SelftestAccess)) return unwind.exit({ errno: -EBADFD });
  return unwind.exit({ errno: 0, staccess: file.private_data, file });
}

/** iommufd_test_add_reserved: reserve [start, start+length-1] with owner NULL. */
function iommufdTestAddReserved(ucmd: Ucmd): number {
  const { cmd, ctx } = ucmd;
  const start = cmd.big('add_reserved.start');
  const length = cmd.big('add_reserved.length');
  if (!length) return -EINVAL;
  const last = start + length - 1n;
  if (last > ULONG_MAX) return -EOVERFLOW;
  const r = iommufdGetIoas(ctx, cmd.num('id'));
  if (r.errno) return r.errno;
  return ioptReserveIova(r.value!.iopt, start, last, null);
}

/** iommufd_test_md_check_refs: every page of the range has exactly `refs` pins (EIO otherwise). */
function iommufdTestMdCheckRefs(ucmd: Ucmd): number {
  const { cmd, ctx } = ucmd;
  let uptr = cmd.big('check_refs.uptr');
  let length = cmd.big('check_refs.length');
  const refs = cmd.num('check_refs.refs');
  if (length % P || uptr % P || uptr + length > ULONG_MAX) return -EINVAL;
  for (; length; length -= P) {
    // get_user_pages_fast(uptr, 1, 0, pages): a read GUP, -EFAULT where the VMA is not readable (check_vma_flags)
    const t = ctx.proc.translateVa(uptr);
    if (!t || !t.prot.read) return -EFAULT;
    if (ctx.proc.pinCountOfPfn(t.pfn) !== refs) return -EIO;
    uptr += P;
  }
  return 0;
}

/** iommufd_test_staccess_release */
function staccessRelease(staccess: SelftestAccess): void {
  if (staccess.access) {
    iommufdTestAccessUnmap(staccess, 0n, ULONG_MAX);
    iommufdAccessDestroy(staccess.access);
  }
}

/** iommufd_test_create_access: a selftest access attached to IOAS `id`; returns its fd. */
function iommufdTestCreateAccess(ucmd: Ucmd): number {
  const { cmd, ctx } = ucmd;
  const flags = cmd.num('create_access.flags');
  if (flags & ~MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES) return -EOPNOTSUPP;
  if (ctx.faults.shouldFail()) return -ENOMEM; // kzalloc(staccess)
  const staccess = new SelftestAccess();
  staccess.needsPin = (flags & MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES) !== 0;
  // anon_inode_getfile: no FMODE_PREAD (pread → ESPIPE); no .read/.write/.poll.
  const file = new KFile('selftest-access', { release: () => staccessRelease(staccess) }, staccess, false);
  staccess.file = file;
  const ops: IommufdAccessOps = {
    needsPinPages: staccess.needsPin,
    unmap: (iova, length) => iommufdTestAccessUnmap(staccess, iova, length),
  };
  const unwind = new Unwind();
  unwind.onError('out_free_staccess', () => file.put());
  const fdno = ctx.proc.fds.getUnusedFd();
  unwind.onError('out_put_fdno', () => ctx.proc.fds.putUnusedFd(fdno));
  const a = iommufdAccessCreate(ctx, ops);
  if (a.errno) return unwind.exit(a.errno);
  const access = a.value!;
  unwind.onError('out_destroy', () => iommufdAccessDestroy(access));
  let rc = iommufdAccessAttach(access, cmd.num('id'));
  if (rc) return unwind.exit(rc);
  cmd.set('create_access.out_access_fd', fdno);
  rc = iommufdUcmdRespond(ucmd);
  if (rc) return unwind.exit(rc);
  staccess.access = access;
  ctx.proc.fds.fdInstall(fdno, file);
  return unwind.exit(0);
}

/** iommufd_test_access_replace_ioas */
function iommufdTestAccessReplaceIoas(ucmd: Ucmd): number {
  const g = iommufdAccessGet(ucmd, ucmd.cmd.num('id'));
  if (g.errno) return g.errno;
  const unwind = new Unwind();
  unwind.always('fput', () => g.file!.put());
  return unwind.exit(iommufdAccessReplace(g.staccess!.access!, ucmd.cmd.num('access_replace_ioas.ioas_id')));
}

/** iommufd_test_check_pages: the pinned frames are the ones behind uptr (EBADE otherwise). */
function checkPages(ucmd: Ucmd, uptr: bigint, pfns: readonly number[]): number {
  for (let i = 0; i < pfns.length; i++) {
    const t = ucmd.ctx.proc.translateVa(uptr + BigInt(i) * P);
    if (!t || !t.prot.read) return -EFAULT; // get_user_pages_fast(.., 0, ..): a read GUP
    if (t.pfn !== pfns[i]) return -EBADE;
  }
  return 0;
}

/** iommufd_test_access_pages: pin through the access and record an item. */
function iommufdTestAccessPages(ucmd: Ucmd): number {
  const { cmd, ctx } = ucmd;
  let iova = cmd.big('access_pages.iova');
  const length = cmd.big('access_pages.length');
  const uptr = cmd.big('access_pages.uptr');
  const flags = cmd.num('access_pages.flags');
  if (length > BigInt(SZ_16M)) return -ENOMEM;
  if (flags & ~(MOCK_FLAGS_ACCESS_WRITE | MOCK_FLAGS_ACCESS_SYZ)) return -EOPNOTSUPP;
  const g = iommufdAccessGet(ucmd, cmd.num('id'));
  if (g.errno) return g.errno;
  const staccess = g.staccess!;
  const unwind = new Unwind();
  unwind.always('out_put', () => g.file!.put());
  if (!staccess.needsPin) return unwind.exit(-EOPNOTSUPP);
  if (flags & MOCK_FLAGS_ACCESS_SYZ) iova = syzConvIova(staccess.access!, iova);
  if (ctx.faults.shouldFail()) return unwind.exit(-ENOMEM); // kvcalloc(pages)
  const pinned = iommufdAccessPinPages(staccess.access!, iova, length, (flags & MOCK_FLAGS_ACCESS_WRITE) !== 0);
  if (pinned.errno) return unwind.exit(pinned.errno);
  unwind.onError('out_unaccess', () => iommufdAccessUnpinPages(staccess.access!, iova, length));
  // For syzkaller uptr may be NULL to skip the check.
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
function iommufdTestAccessRw(ucmd: Ucmd): number {
  const { cmd, ctx } = ucmd;
  let iova = cmd.big('access_rw.iova');
  const length = cmd.big('access_rw.length');
  const ubuf = cmd.big('access_rw.uptr');
  const flags = cmd.num('access_rw.flags');
  if (length > BigInt(SZ_16M)) return -ENOMEM;
  if (flags & ~(MOCK_ACCESS_RW_WRITE | MOCK_ACCESS_RW_SLOW_PATH | MOCK_FLAGS_ACCESS_SYZ)) return -EOPNOTSUPP;
  const g = iommufdAccessGet(ucmd, cmd.num('id'));
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
  const rc = iommufdAccessRw(g.staccess!.access!, iova, tmp, write, (flags & MOCK_ACCESS_RW_SLOW_PATH) !== 0);
  if (rc) return unwind.exit(rc);
  if (!write && !ctx.proc.copyToUser(ubuf, tmp)) return unwind.exit(-EFAULT);
  return unwind.exit(0);
}

/** iommufd_test_access_item_destroy: ENOENT for an unknown item. */
function iommufdTestAccessItemDestroy(ucmd: Ucmd): number {
  const g = iommufdAccessGet(ucmd, ucmd.cmd.num('id'));
  if (g.errno) return g.errno;
  const unwind = new Unwind();
  unwind.always('fput', () => g.file!.put());
  const staccess = g.staccess!;
  const itemId = ucmd.cmd.num('destroy_access_pages.access_pages_id');
  const item = staccess.items.find((i) => i.id === itemId);
  if (!item) return unwind.exit(-ENOENT);
  staccess.items.splice(staccess.items.indexOf(item), 1);
  iommufdAccessUnpinPages(staccess.access!, item.iova, item.length);
  return unwind.exit(0);
}

/** iommufd_test's switch: the ops the reference serves. */
const SELFTEST_OPS = new Map<number, (ucmd: Ucmd) => number>([
  [IOMMU_TEST_OP_MOCK_DOMAIN, iommufdTestMockDomain],
  [IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS, iommufdTestMockDomain],
  [IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE, iommufdTestMockDomainReplace],
  [IOMMU_TEST_OP_MD_CHECK_MAP, (u) => iommufdTestMdCheckPa(u.ctx, u.cmd.num('id'), u.cmd.big('check_map.iova'), u.cmd.big('check_map.length'), u.cmd.big('check_map.uptr'))],
  [IOMMU_TEST_OP_MD_CHECK_IOTLB, (u) => iommufdTestMdCheckIotlb(u.ctx, u.cmd.num('id'))],
  [IOMMU_TEST_OP_ADD_RESERVED, iommufdTestAddReserved],
  [IOMMU_TEST_OP_MD_CHECK_REFS, iommufdTestMdCheckRefs],
  [IOMMU_TEST_OP_CREATE_ACCESS, iommufdTestCreateAccess],
  [IOMMU_TEST_OP_ACCESS_REPLACE_IOAS, iommufdTestAccessReplaceIoas],
  [IOMMU_TEST_OP_ACCESS_PAGES, iommufdTestAccessPages],
  [IOMMU_TEST_OP_ACCESS_RW, iommufdTestAccessRw],
  [IOMMU_TEST_OP_DESTROY_ACCESS_PAGES, iommufdTestAccessItemDestroy],
  [IOMMU_TEST_OP_SET_TEMP_MEMORY_LIMIT, iommufdTestSetTempMemoryLimit],
]);

/** IOMMU_TEST_OP_SET_TEMP_MEMORY_LIMIT */
function iommufdTestSetTempMemoryLimit(ucmd: Ucmd): number {
  const limit = ucmd.cmd.num('memory_limit.limit');
  if (limit < 8 + 4) return -EINVAL; // sizeof(unsigned long) + sizeof(u32)
  iommufdTestMemoryLimit = limit;
  return 0;
}

/** Whether the reference answers this test op (capabilities). */
export function iommufdTestServes(op: number): boolean {
  return SELFTEST_OPS.has(op);
}

/** iommufd_test: the op's handler, or EOPNOTSUPP. */
export function iommufdTest(ucmd: Ucmd): number {
  const opv = ucmd.cmd.num('op');
  const handler = SELFTEST_OPS.get(opv);
  return handler ? handler(ucmd) : -EOPNOTSUPP;
}
