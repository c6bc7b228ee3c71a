/**
 * IOMMU_TEST_CMD (CONFIG_IOMMUFD_TEST). Mirrors drivers/iommu/iommufd/selftest.c:
 * iommufd_test (op dispatch; unknown op -> EOPNOTSUPP), iommufd_test_add_reserved,
 * iommufd_test_md_check_refs, the selftest access (struct selftest_access and
 * its file: iommufd_test_create_access, iommufd_test_access_pages,
 * iommufd_test_access_rw, iommufd_test_access_item_destroy,
 * iommufd_test_access_replace_ioas, iommufd_test_staccess_release) and
 * SET_TEMP_MEMORY_LIMIT.
 *
 * The device ops (MOCK_DOMAIN, MOCK_DOMAIN_FLAGS, MOCK_DOMAIN_REPLACE,
 * MD_CHECK_MAP, MD_CHECK_IOTLB, DIRTY, TRIGGER_IOPF) are DEVICES': they are
 * looked up in SELFTEST_DEVICE_OPS, which DEVICES fills (marked section).
 *
 * Public API: iommufdTest(ucmd), iommufdTestServes(op), IOMMU_TEST_OP_* (values from
 * spec/uapi), SELFTEST_DEVICE_OPS,
 * class SelftestAccess, MOCK_* flags.
 */
import { KFile } from '../process/file.ts';
import { EBADFD, EFAULT, EINVAL, EIO, ENOENT, ENOMEM, EOPNOTSUPP, EOVERFLOW } from './errno.ts';
import type { Ucmd } from './main.ts';
import { testOpByName } from '../../spec/uapi/lookup.ts';
import { iommufdTestMockDomain, iommufdTestMockDomainReplace } from './device.ts'; // DEVICES
import { iommufdTestMdCheckIotlb, iommufdTestMdCheckPa } from './hw_pagetable.ts'; // DEVICES
import { iommufdUcmdRespond } from './main.ts';
import { iommufdGetIoas } from './ioas.ts';
import { ioptReserveIova, ioptTestSyzConvIova, PAGE_SIZE, ULONG_MAX } from './io_pagetable.ts';
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

/** A test op's value (spec/uapi; the values are the same in both profiles). */
const testOp = (name: string): number => testOpByName('7.3', name)!.value;
export const IOMMU_TEST_OP_ADD_RESERVED = testOp('IOMMU_TEST_OP_ADD_RESERVED');
export const IOMMU_TEST_OP_MOCK_DOMAIN = testOp('IOMMU_TEST_OP_MOCK_DOMAIN');
export const IOMMU_TEST_OP_MD_CHECK_MAP = testOp('IOMMU_TEST_OP_MD_CHECK_MAP');
export const IOMMU_TEST_OP_MD_CHECK_REFS = testOp('IOMMU_TEST_OP_MD_CHECK_REFS');
export const IOMMU_TEST_OP_CREATE_ACCESS = testOp('IOMMU_TEST_OP_CREATE_ACCESS');
export const IOMMU_TEST_OP_DESTROY_ACCESS_PAGES = testOp('IOMMU_TEST_OP_DESTROY_ACCESS_PAGES');
export const IOMMU_TEST_OP_ACCESS_PAGES = testOp('IOMMU_TEST_OP_ACCESS_PAGES');
export const IOMMU_TEST_OP_ACCESS_RW = testOp('IOMMU_TEST_OP_ACCESS_RW');
export const IOMMU_TEST_OP_SET_TEMP_MEMORY_LIMIT = testOp('IOMMU_TEST_OP_SET_TEMP_MEMORY_LIMIT');
export const IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE = testOp('IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE');
export const IOMMU_TEST_OP_ACCESS_REPLACE_IOAS = testOp('IOMMU_TEST_OP_ACCESS_REPLACE_IOAS');
export const IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS = testOp('IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS');
export const IOMMU_TEST_OP_DIRTY = testOp('IOMMU_TEST_OP_DIRTY');
export const IOMMU_TEST_OP_MD_CHECK_IOTLB = testOp('IOMMU_TEST_OP_MD_CHECK_IOTLB');
export const IOMMU_TEST_OP_TRIGGER_IOPF = testOp('IOMMU_TEST_OP_TRIGGER_IOPF');

export const MOCK_FLAGS_ACCESS_WRITE = 1;
export const MOCK_FLAGS_ACCESS_SYZ = 1 << 16;
export const MOCK_ACCESS_RW_WRITE = 1;
export const MOCK_ACCESS_RW_SLOW_PATH = 1 << 2;
export const MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES = 1;

const EBADE = 52;
const SZ_16M = 16 * 1024 * 1024;
const P = BigInt(PAGE_SIZE);

/** Test ops served by DEVICES' modules (op number -> handler). */
export const SELFTEST_DEVICE_OPS = new Map<number, (ucmd: Ucmd) => number>();
// ---- DEVICES: SELFTEST_DEVICE_OPS.set(IOMMU_TEST_OP_MOCK_DOMAIN, ...) from device code ----
SELFTEST_DEVICE_OPS.set(IOMMU_TEST_OP_MOCK_DOMAIN, iommufdTestMockDomain);
SELFTEST_DEVICE_OPS.set(IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS, iommufdTestMockDomain);
SELFTEST_DEVICE_OPS.set(IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE, iommufdTestMockDomainReplace);
SELFTEST_DEVICE_OPS.set(IOMMU_TEST_OP_MD_CHECK_MAP, (u) =>
  iommufdTestMdCheckPa(u.ctx, u.cmd.num('id'), u.cmd.big('check_map.iova'), u.cmd.big('check_map.length'), u.cmd.big('check_map.uptr')),
);
SELFTEST_DEVICE_OPS.set(IOMMU_TEST_OP_MD_CHECK_IOTLB, (u) => iommufdTestMdCheckIotlb(u.ctx, u.cmd.num('id')));
// ---- end DEVICES ----

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
function syzConvIova(access: IommufdAccess, iova: bigint): bigint {
  return access.ioas ? ioptTestSyzConvIova(access.ioas.iopt, iova) : 0n;
}

/** iommufd_access_get: EBADFD for a bad fd or a file that is not a selftest access. */
function iommufdAccessGet(ucmd: Ucmd, fd: number): { errno: number; staccess?: SelftestAccess; file?: KFile } {
  const file = ucmd.ctx.proc.fds.fget(fd);
  if (!file) return { errno: EBADFD };
  if (file.kind !== 'selftest-access' || !(file.private_data instanceof SelftestAccess)) {
    file.put();
    return { errno: EBADFD };
  }
  return { errno: 0, staccess: file.private_data, file };
}

/** iommufd_test_add_reserved: reserve [start, start+length-1] with owner NULL. */
function iommufdTestAddReserved(ucmd: Ucmd): number {
  const { cmd, ctx } = ucmd;
  const start = cmd.big('add_reserved.start');
  const length = cmd.big('add_reserved.length');
  if (!length) return EINVAL;
  const last = start + length - 1n;
  if (last > ULONG_MAX) return EOVERFLOW;
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
  if (length % P || uptr % P || uptr + length > ULONG_MAX) return EINVAL;
  for (; length; length -= P) {
    const t = ctx.proc.translateVa(uptr);
    if (!t) return EFAULT;
    if (ctx.proc.pinCountOfPfn(t.pfn) !== refs) return EIO;
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
  if (flags & ~MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES) return EOPNOTSUPP;
  if (ctx.faults.shouldFail()) return ENOMEM; // kzalloc(staccess)
  const staccess = new SelftestAccess();
  staccess.needsPin = (flags & MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES) !== 0;
  // anon_inode_getfile: no FMODE_PREAD (pread → ESPIPE); no .read/.write/.poll.
  const file = new KFile('selftest-access', { release: () => staccessRelease(staccess) }, staccess, false);
  staccess.file = file;
  const ops: IommufdAccessOps = {
    needsPinPages: staccess.needsPin,
    unmap: (iova, length) => iommufdTestAccessUnmap(staccess, iova, length),
  };
  const a = iommufdAccessCreate(ctx, ops);
  if (a.errno) {
    file.put();
    return a.errno;
  }
  const access = a.value!;
  let rc = iommufdAccessAttach(access, cmd.num('id'));
  if (!rc) {
    // get_unused_fd_flags was taken before the access in the kernel; the number is the same.
    const fdno = ctx.proc.fds.install(file);
    cmd.set('create_access.out_access_fd', fdno);
    rc = iommufdUcmdRespond(ucmd);
    if (!rc) {
      staccess.access = access;
      return 0;
    }
    ctx.proc.fds.close(fdno);
    iommufdAccessDestroy(access);
    return rc;
  }
  iommufdAccessDestroy(access);
  file.put();
  return rc;
}

/** iommufd_test_access_replace_ioas */
function iommufdTestAccessReplaceIoas(ucmd: Ucmd): number {
  const g = iommufdAccessGet(ucmd, ucmd.cmd.num('id'));
  if (g.errno) return g.errno;
  const rc = iommufdAccessReplace(g.staccess!.access!, ucmd.cmd.num('access_replace_ioas.ioas_id'));
  g.file!.put();
  return rc;
}

/** iommufd_test_check_pages: the pinned frames are the ones behind uptr (EBADE otherwise). */
function checkPages(ucmd: Ucmd, uptr: bigint, pfns: readonly number[]): number {
  for (let i = 0; i < pfns.length; i++) {
    const t = ucmd.ctx.proc.translateVa(uptr + BigInt(i) * P);
    if (!t) return EFAULT;
    if (t.pfn !== pfns[i]) return EBADE;
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
  if (length > BigInt(SZ_16M)) return ENOMEM;
  if (flags & ~(MOCK_FLAGS_ACCESS_WRITE | MOCK_FLAGS_ACCESS_SYZ)) return EOPNOTSUPP;
  const g = iommufdAccessGet(ucmd, cmd.num('id'));
  if (g.errno) return g.errno;
  const staccess = g.staccess!;
  const done = (rc: number): number => {
    g.file!.put();
    return rc;
  };
  if (!staccess.needsPin) return done(EOPNOTSUPP);
  if (flags & MOCK_FLAGS_ACCESS_SYZ) iova = syzConvIova(staccess.access!, iova);
  if (ctx.faults.shouldFail()) return done(ENOMEM); // kvcalloc(pages)
  const pinned = iommufdAccessPinPages(staccess.access!, iova, length, (flags & MOCK_FLAGS_ACCESS_WRITE) !== 0);
  if (pinned.errno) return done(pinned.errno);
  let rc = 0;
  if (uptr) rc = checkPages(ucmd, uptr - (iova % P), pinned.value!);
  if (!rc && ctx.faults.shouldFail()) rc = ENOMEM; // kzalloc(item)
  if (rc) {
    iommufdAccessUnpinPages(staccess.access!, iova, length);
    return done(rc);
  }
  const item = { iova, length, id: staccess.nextId++ };
  staccess.items.push(item);
  cmd.set('access_pages.out_access_pages_id', item.id);
  rc = iommufdUcmdRespond(ucmd);
  if (rc) {
    staccess.items.splice(staccess.items.indexOf(item), 1);
    iommufdAccessUnpinPages(staccess.access!, iova, length);
  }
  return done(rc);
}

/** iommufd_test_access_rw */
function iommufdTestAccessRw(ucmd: Ucmd): number {
  const { cmd, ctx } = ucmd;
  let iova = cmd.big('access_rw.iova');
  const length = cmd.big('access_rw.length');
  const ubuf = cmd.big('access_rw.uptr');
  const flags = cmd.num('access_rw.flags');
  if (length > BigInt(SZ_16M)) return ENOMEM;
  if (flags & ~(MOCK_ACCESS_RW_WRITE | MOCK_ACCESS_RW_SLOW_PATH | MOCK_FLAGS_ACCESS_SYZ)) return EOPNOTSUPP;
  const g = iommufdAccessGet(ucmd, cmd.num('id'));
  if (g.errno) return g.errno;
  const done = (rc: number): number => {
    g.file!.put();
    return rc;
  };
  if (ctx.faults.shouldFail()) return done(ENOMEM); // kvzalloc(tmp)
  let tmp: Uint8Array = new Uint8Array(Number(length));
  const write = (flags & MOCK_ACCESS_RW_WRITE) !== 0;
  if (write) {
    const b = ctx.proc.copyFromUser(ubuf, Number(length));
    if (!b) return done(EFAULT);
    tmp = b;
  }
  if (flags & MOCK_FLAGS_ACCESS_SYZ) iova = syzConvIova(g.staccess!.access!, iova);
  const rc = iommufdAccessRw(g.staccess!.access!, iova, tmp, write, (flags & MOCK_ACCESS_RW_SLOW_PATH) !== 0);
  if (rc) return done(rc);
  if (!write && !ctx.proc.copyToUser(ubuf, tmp)) return done(EFAULT);
  return done(0);
}

/** iommufd_test_access_item_destroy: ENOENT for an unknown item. */
function iommufdTestAccessItemDestroy(ucmd: Ucmd): number {
  const g = iommufdAccessGet(ucmd, ucmd.cmd.num('id'));
  if (g.errno) return g.errno;
  const staccess = g.staccess!;
  const itemId = ucmd.cmd.num('destroy_access_pages.access_pages_id');
  const item = staccess.items.find((i) => i.id === itemId);
  if (item) {
    staccess.items.splice(staccess.items.indexOf(item), 1);
    iommufdAccessUnpinPages(staccess.access!, item.iova, item.length);
  }
  g.file!.put();
  return item ? 0 : ENOENT;
}

/** iommufd_test */
/** The ops core serves (selftest.c's switch); DEVICES' ops are in SELFTEST_DEVICE_OPS. */
const SELFTEST_CORE_OPS = new Map<number, (ucmd: Ucmd) => number>([
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
  if (limit < 8 + 4) return EINVAL; // sizeof(unsigned long) + sizeof(u32)
  iommufdTestMemoryLimit = limit;
  return 0;
}

/** Whether the reference answers this test op (capabilities). */
export function iommufdTestServes(op: number): boolean {
  return SELFTEST_CORE_OPS.has(op) || SELFTEST_DEVICE_OPS.has(op);
}

/** iommufd_test: the op's handler, or EOPNOTSUPP. */
export function iommufdTest(ucmd: Ucmd): number {
  const opv = ucmd.cmd.num('op');
  const handler = SELFTEST_CORE_OPS.get(opv) ?? SELFTEST_DEVICE_OPS.get(opv);
  return handler ? handler(ucmd) : EOPNOTSUPP;
}
