import { describe, expect } from 'vitest';
import { check } from '../../spec/clauses/check.ts';
import { EADDRINUSE, EBADFD, EDEADLOCK, EFAULT, EINVAL, EIO, ENOENT, ENOMEM, EOPNOTSUPP, EOVERFLOW, EPERM } from '../lib/errno.ts';
import type { IommufdIoas } from './iommufd_private.ts';
import { PROT_NONE, PROT_R } from '../process/process.ts';
import { ioptTableAddDomain } from './io_pagetable.ts';
import { iommufdAccessAttach, iommufdAccessCreate, iommufdAccessDestroy, iommufdAccessPinPages } from './access.ts';
import {
  IOMMU_TEST_OP_ACCESS_PAGES,
  IOMMU_TEST_OP_ACCESS_REPLACE_IOAS,
  IOMMU_TEST_OP_ACCESS_RW,
  IOMMU_TEST_OP_ADD_RESERVED,
  IOMMU_TEST_OP_CREATE_ACCESS,
  IOMMU_TEST_OP_DESTROY_ACCESS_PAGES,
  IOMMU_TEST_OP_MD_CHECK_REFS,
  IOMMU_TEST_OP_SET_TEMP_MEMORY_LIMIT,
  MOCK_ACCESS_RW_SLOW_PATH,
} from '../../spec/uapi/constants.ts';
import { buffer, FakeDomain, ioasAlloc, ioctl, iovaRanges, map, MAP_R, NR, newEnv, P, testCmd, U64_MAX, unmap, type Env } from '../testing/testutil.ts';
import { ERRNO } from '../../spec/uapi/errno.ts';

const ioasOf = (env: Env, id: number): IommufdIoas => env.ctx.objects.load(id) as IommufdIoas;

function createAccess(env: Env, ioas: number, pin = true): number {
  const r = testCmd(env, IOMMU_TEST_OP_CREATE_ACCESS, ioas, { 'create_access.flags': pin ? 1 : 0 });
  expect(r.errno).toBe(0);
  return r.out.num('create_access.out_access_fd');
}

function accessPages(env: Env, fd: number, iova: bigint, length: bigint, flags = 0, uptr = 0n) {
  const r = testCmd(env, IOMMU_TEST_OP_ACCESS_PAGES, fd, { 'access_pages.iova': iova, 'access_pages.length': length, 'access_pages.flags': flags, 'access_pages.uptr': uptr });
  return { errno: r.errno, id: r.out.num('access_pages.out_access_pages_id') };
}

function checkRefs(env: Env, uptr: bigint, length: bigint, refs: number): number {
  return testCmd(env, IOMMU_TEST_OP_MD_CHECK_REFS, 0, { 'check_refs.uptr': uptr, 'check_refs.length': length, 'check_refs.refs': refs }).errno;
}

describe('IOMMU_TEST_CMD core ops (selftest.c)', () => {
  check('ref.test.unknown-op-eopnotsupp', () => {
    const env = newEnv();
    expect(testCmd(env, 99, 0, {}).errno).toBe(EOPNOTSUPP);
  });
  check('ref.test.add-reserved', () => {
    const env = newEnv();
    const ioas = ioasAlloc(env);
    const add = (start: bigint, length: bigint, id = ioas) => testCmd(env, IOMMU_TEST_OP_ADD_RESERVED, id, { 'add_reserved.start': start, 'add_reserved.length': length }).errno;
    expect(add(0x1000n, 0n, 77)).toBe(EINVAL);
    expect(add(U64_MAX, 2n, 77)).toBe(EOVERFLOW);
    expect(add(0x1000n, P, 77)).toBe(ENOENT);
    expect(add(0x1000n, P)).toBe(0);
    expect(iovaRanges(env, ioas).ranges).toEqual([[0n, 0xfffn], [0x2000n, U64_MAX]]);
    const buf = buffer(env, 4096);
    map(env, ioas, buf, P, 0x10000n);
    expect(add(0x10000n, 1n)).toBe(EADDRINUSE);
    // Fixed maps into a reserved range fail EINVAL.
    expect(map(env, ioas, buf, P, 0x1000n).errno).toBe(EINVAL);
  });
  check('ref.test.md-check-refs', () => {
    const env = newEnv();
    const ioas = ioasAlloc(env);
    ioptTableAddDomain(ioasOf(env, ioas).iopt, new FakeDomain());
    const buf = buffer(env, 4 * 4096);
    expect(checkRefs(env, buf + 1n, P, 0)).toBe(EINVAL);
    expect(checkRefs(env, buf, 1n, 0)).toBe(EINVAL);
    expect(checkRefs(env, buf, 4n * P, 0)).toBe(0);
    map(env, ioas, buf, 2n * P);
    expect(checkRefs(env, buf, 2n * P, 1)).toBe(0);
    expect(checkRefs(env, buf, 4n * P, 1)).toBe(EIO);
    expect(checkRefs(env, 1n << 40n, P, 0)).toBe(EFAULT);
    // A read GUP (get_user_pages_fast(uptr, 1, 0, ..)): a PROT_NONE page is EFAULT, a read-only one is found.
    expect(env.proc.mprotect(buf + 2n * P, 4096, PROT_NONE)).toBe(true);
    expect(env.proc.mprotect(buf + 3n * P, 4096, PROT_R)).toBe(true);
    expect(checkRefs(env, buf + 2n * P, P, 0)).toBe(EFAULT);
    expect(checkRefs(env, buf + 3n * P, P, 0)).toBe(0);
  });
  check('ref.test.temp-memory-limit', () => {
    const env = newEnv();
    expect(testCmd(env, IOMMU_TEST_OP_SET_TEMP_MEMORY_LIMIT, 0, { 'memory_limit.limit': 11 }).errno).toBe(EINVAL);
    expect(testCmd(env, IOMMU_TEST_OP_SET_TEMP_MEMORY_LIMIT, 0, { 'memory_limit.limit': 12 }).errno).toBe(0);
    expect(testCmd(env, IOMMU_TEST_OP_SET_TEMP_MEMORY_LIMIT, 0, { 'memory_limit.limit': 65536 }).errno).toBe(0);
  });
});

describe('access objects (device.c iommufd_access_*)', () => {
  check('ref.access.create-errno', () => {
    const env = newEnv();
    expect(testCmd(env, IOMMU_TEST_OP_CREATE_ACCESS, 1, { 'create_access.flags': 2 }).errno).toBe(EOPNOTSUPP);
    expect(testCmd(env, IOMMU_TEST_OP_CREATE_ACCESS, 1, { 'create_access.flags': 1 }).errno).toBe(ENOENT);
    expect(env.ctx.objects.empty).toBe(true);
    const ioas = ioasAlloc(env);
    const fd = createAccess(env, ioas);
    expect(fd).toBeGreaterThan(env.fd);
    // The access object (id 2) is held by its driver.
    expect(ioctl(env, NR.IOMMU_DESTROY, { id: 2 }).errno).toBe(ERRNO.EBUSY);
    expect(ioctl(env, NR.IOMMU_DESTROY, { id: ioas }).errno).toBe(ERRNO.EBUSY);
    env.proc.fds.close(fd);
    expect(ioctl(env, NR.IOMMU_DESTROY, { id: ioas }).errno).toBe(0);
    expect(env.ctx.objects.empty).toBe(true);
  });
  check('ref.access.pin-and-rw', () => {
    const env = newEnv();
    const ioas = ioasAlloc(env);
    const fd = createAccess(env, ioas);
    const buf = buffer(env, 4 * 4096);
    env.proc.copyToUser(buf + P, new TextEncoder().encode('hello'));
    const iova = map(env, ioas, buf, 4n * P, 0x10000n).iova;
    // EBADFD for a non-access fd.
    expect(accessPages(env, env.fd, iova, P).errno).toBe(EBADFD);
    expect(accessPages(env, 1000, iova, P).errno).toBe(EBADFD);
    expect(accessPages(env, fd, iova, 17n * 1024n * 1024n).errno).toBe(ENOMEM);
    expect(accessPages(env, fd, iova, P, 2).errno).toBe(EOPNOTSUPP);
    expect(accessPages(env, fd, iova, 0n).errno).toBe(EINVAL);
    expect(accessPages(env, fd, iova + 0x100n, P).errno).toBe(EINVAL);
    expect(accessPages(env, fd, 0x80000n, P).errno).toBe(ENOENT);
    const a = accessPages(env, fd, iova, 2n * P, 1, buf);
    expect(a.errno).toBe(0);
    expect(checkRefs(env, buf, 2n * P, 1)).toBe(0);
    const b = accessPages(env, fd, iova, 2n * P);
    expect(b.id).toBe(a.id + 1);
    // The same range is pinned once.
    expect(checkRefs(env, buf, 2n * P, 1)).toBe(0);
    // rw reads and writes through the IOAS.
    const ubuf = buffer(env, 4096);
    const rw = (i: bigint, len: bigint, flags: number) =>
      testCmd(env, IOMMU_TEST_OP_ACCESS_RW, fd, { 'access_rw.iova': i, 'access_rw.length': len, 'access_rw.uptr': ubuf, 'access_rw.flags': flags }).errno;
    expect(rw(iova + P, 5n, 0)).toBe(0);
    expect(new TextDecoder().decode(env.proc.copyFromUser(ubuf, 5)!)).toBe('hello');
    env.proc.copyToUser(ubuf, new TextEncoder().encode('HE'));
    expect(rw(iova + P, 2n, 1)).toBe(0);
    expect(new TextDecoder().decode(env.proc.copyFromUser(buf + P, 5)!)).toBe('HEllo');
    expect(rw(iova + P, 0n, 0)).toBe(EINVAL);
    expect(rw(0x90000n, 2n, 0)).toBe(ENOENT);
    expect(rw(iova, 2n, 8)).toBe(EOPNOTSUPP);
    // Destroying items unpins.
    expect(testCmd(env, IOMMU_TEST_OP_DESTROY_ACCESS_PAGES, fd, { 'destroy_access_pages.access_pages_id': 99 }).errno).toBe(ENOENT);
    expect(testCmd(env, IOMMU_TEST_OP_DESTROY_ACCESS_PAGES, fd, { 'destroy_access_pages.access_pages_id': a.id }).errno).toBe(0);
    expect(checkRefs(env, buf, 2n * P, 1)).toBe(0);
    expect(testCmd(env, IOMMU_TEST_OP_DESTROY_ACCESS_PAGES, fd, { 'destroy_access_pages.access_pages_id': b.id }).errno).toBe(0);
    expect(checkRefs(env, buf, 2n * P, 0)).toBe(0);
  });
  check('ref.access.rw-slow-uncharged', () => {
    // iopt_pages_rw_slow (both kernels) pins what no domain or access holds through the pfn reader and
    // unpins it before returning, without update_pinned: nothing is charged, so RLIMIT_MEMLOCK 0 without
    // CAP_IPC_LOCK refuses nothing (a pinning access under the same limit is refused).
    const env = newEnv();
    const ioas = ioasAlloc(env);
    const buf = buffer(env, 4 * 4096);
    const iova = map(env, ioas, buf, 4n * P, 0x10000n).iova;
    const ubuf = buffer(env, 2 * 4096);
    env.proc.rlimitMemlock = 0n;
    env.proc.capIpcLock = false;
    const fd = createAccess(env, ioas, false);
    const rw = (length: bigint) => testCmd(env, IOMMU_TEST_OP_ACCESS_RW, fd, { 'access_rw.iova': iova + 0x800n, 'access_rw.length': length, 'access_rw.uptr': ubuf, 'access_rw.flags': MOCK_ACCESS_RW_SLOW_PATH }).errno;
    expect(rw(4096n)).toBe(0);
    expect(rw(2n * 4096n)).toBe(0);
    expect(env.proc.user.lockedVm).toBe(0);
    expect(checkRefs(env, buf, 4n * P, 0)).toBe(0);
    const pinning = createAccess(env, ioas);
    expect(accessPages(env, pinning, iova, P).errno).toBe(ENOMEM);
  });

  check('ref.access.prot-eperm', () => {
    const env = newEnv();
    const ioas = ioasAlloc(env);
    const fd = createAccess(env, ioas);
    const buf = buffer(env, 4096);
    const iova = map(env, ioas, buf, P, 0x10000n, MAP_R).iova;
    expect(accessPages(env, fd, iova, P, 1).errno).toBe(EPERM);
    expect(accessPages(env, fd, iova, P, 0).errno).toBe(0);
  });
  check('ref.access.unmap-notifies', () => {
    const env = newEnv();
    const ioas = ioasAlloc(env);
    const fd = createAccess(env, ioas);
    const buf = buffer(env, 4 * 4096);
    const iova = map(env, ioas, buf, 4n * P, 0x10000n).iova;
    expect(accessPages(env, fd, iova + P, P).errno).toBe(0);
    expect(checkRefs(env, buf + P, P, 1)).toBe(0);
    // The unmap tells the access to unpin, then completes.
    expect(unmap(env, ioas, iova, 4n * P)).toEqual({ errno: 0, length: 4n * P });
    expect(checkRefs(env, buf, 4n * P, 0)).toBe(0);
  });
  check('ref.access.unmap-edeadlock', () => {
    const env = newEnv();
    const ioas = ioasAlloc(env);
    const buf = buffer(env, 4096);
    // A driver that never unpins: the unmap gives up after 100 tries.
    let calls = 0;
    const a = iommufdAccessCreate(env.ctx, { needsPinPages: true, unmap: () => void calls++ });
    expect(iommufdAccessAttach(a.value!, ioas)).toBe(0);
    const iova = map(env, ioas, buf, P, 0x10000n).iova;
    expect(iommufdAccessPinPages(a.value!, iova, P, false).errno).toBe(0);
    expect(unmap(env, ioas, iova, P).errno).toBe(EDEADLOCK);
    expect(calls).toBe(101);
    // While prevent_access is set new pins are refused.
    expect(iommufdAccessPinPages(a.value!, iova, P, false).errno).toBe(-EINVAL);
  });
  check('ref.access.replace-ioas', () => {
    const env = newEnv();
    const ioas1 = ioasAlloc(env);
    const ioas2 = ioasAlloc(env);
    const fd = createAccess(env, ioas1);
    const buf = buffer(env, 4096);
    const iova = map(env, ioas1, buf, P, 0x10000n).iova;
    expect(accessPages(env, fd, iova, P).errno).toBe(0);
    const rep = (id: number) => testCmd(env, IOMMU_TEST_OP_ACCESS_REPLACE_IOAS, fd, { 'access_replace_ioas.ioas_id': id }).errno;
    expect(rep(77)).toBe(ENOENT);
    expect(rep(ioas2)).toBe(0);
    // Moving away unpinned everything in the old IOAS.
    expect(checkRefs(env, buf, P, 0)).toBe(0);
    expect(ioctl(env, NR.IOMMU_DESTROY, { id: ioas1 }).errno).toBe(0);
    expect(ioctl(env, NR.IOMMU_DESTROY, { id: ioas2 }).errno).toBe(ERRNO.EBUSY);
    // A pinning access raises the IOAS alignment to PAGE_SIZE.
    expect(iovaRanges(env, ioas2).alignment).toBe(P);
    // The access that moves leaves its own slot of the old IOAS's access list, whatever slot the new
    // list gave it: the one that stays keeps the old IOAS (alignment 1: it does not pin), the mover takes
    // PAGE_SIZE along (iommufd_access_change_ioas reads iopt_access_list_id before iopt_add_access).
    const ioas3 = ioasAlloc(env);
    const ioas4 = ioasAlloc(env);
    createAccess(env, ioas3, false);
    const mover = createAccess(env, ioas3);
    expect(iovaRanges(env, ioas3).alignment).toBe(P);
    expect(testCmd(env, IOMMU_TEST_OP_ACCESS_REPLACE_IOAS, mover, { 'access_replace_ioas.ioas_id': ioas4 }).errno).toBe(0);
    expect(iovaRanges(env, ioas3).alignment).toBe(1n);
    expect(iovaRanges(env, ioas4).alignment).toBe(P);
  });
  check('ref.access.alignment-eaddrinuse', () => {
    const env = newEnv();
    const ioas = ioasAlloc(env);
    const buf = buffer(env, 4096);
    map(env, ioas, buf + 0x10n, 0x10n, 0x10010n);
    expect(testCmd(env, IOMMU_TEST_OP_CREATE_ACCESS, ioas, { 'create_access.flags': 1 }).errno).toBe(EADDRINUSE);
    expect(env.ctx.objects.size).toBe(1);
    const a = iommufdAccessCreate(env.ctx, { needsPinPages: false, unmap: () => {} });
    expect(iommufdAccessAttach(a.value!, ioas)).toBe(0);
    iommufdAccessDestroy(a.value!);
  });
  check('ref.access.rw-fast-and-slow-path', () => {
    const env = newEnv();
    const ioas = ioasAlloc(env);
    ioptTableAddDomain(ioasOf(env, ioas).iopt, new FakeDomain());
    const fd = createAccess(env, ioas, false);
    const buf = buffer(env, 2 * 4096);
    env.proc.copyToUser(buf + P - 2n, new Uint8Array([7, 7, 8, 8]));
    const iova = map(env, ioas, buf, 2n * P, 0x10000n).iova;
    // The user unmaps the memory; the domain keeps it pinned.
    env.proc.munmap(buf, 2 * 4096);
    const ubuf = buffer(env, 4096);
    const rw = (i: bigint, len: bigint, flags: number) =>
      testCmd(env, IOMMU_TEST_OP_ACCESS_RW, fd, { 'access_rw.iova': i, 'access_rw.length': len, 'access_rw.uptr': ubuf, 'access_rw.flags': flags }).errno;
    // Fast path: copy_from_user on the user address faults.
    expect(rw(iova + P - 2n, 4n, 0)).toBe(EFAULT);
    // Slow path across two pages: the pfn reader uses the pinned frames.
    expect(rw(iova + P - 2n, 4n, 4)).toBe(0);
    expect([...env.proc.copyFromUser(ubuf, 4)!]).toEqual([7, 7, 8, 8]);
    // Slow path within one page pins the user page again: gone -> EFAULT.
    expect(rw(iova, 2n, 4)).toBe(EFAULT);
  });
});
