import { describe, expect } from 'vitest';
import { sysRet } from '../process/file.ts';
import { iommufdCmd } from './main.ts';
import { check } from '../../spec/clauses/check.ts';
import { EADDRINUSE, EBUSY, EEXIST, EFAULT, EINVAL, ENOENT, ENOMEM, ENOSPC, EOPNOTSUPP, EOVERFLOW, EPERM } from '../lib/errno.ts';
import type { IommufdIoas } from './iommufd_private.ts';
import { ioptAutoIovaAllowed, ioptTableAddDomain, ioptTableRemoveDomain, ioptReserveIova } from './io_pagetable.ts';
import { PROT_R } from '../process/process.ts';
import { buffer, FakeDomain, ioasAlloc, ioctl, iovaRanges, map, MAP_R, MAP_W, NR, newEnv, P, U64_MAX, unmap, writeRanges, type Env } from '../testing/testutil.ts';

const ioasOf = (env: Env, id: number): IommufdIoas => env.ctx.objects.load(id) as IommufdIoas;
const MB = 1024n * 1024n;

describe('IOMMU_IOAS_MAP (ioas.c: iommufd_ioas_map, io_pagetable.c)', () => {
  check('ref.ioas_map.errno-order', () => {
    const env = newEnv();
    const buf = buffer(env, 16 * 4096);
    // 1. flags / reserved
    expect(map(env, 5, buf, P, undefined, 8 | MAP_R).errno).toBe(EOPNOTSUPP);
    expect(ioctl(env, NR.IOMMU_IOAS_MAP, { ioas_id: 5, flags: MAP_R, __reserved: 1, user_va: buf, length: P }).errno).toBe(EOPNOTSUPP);
    // 2. U64_MAX
    expect(map(env, 5, buf, U64_MAX).errno).toBe(EOVERFLOW);
    expect(map(env, 5, buf, P, U64_MAX).errno).toBe(EOVERFLOW);
    // 3. no R/W
    expect(map(env, 5, buf, P, undefined, 0).errno).toBe(EINVAL);
    // 4. ioas
    expect(map(env, 5, buf, P).errno).toBe(ENOENT);
    const ioas = ioasAlloc(env);
    // 5. iopt_alloc_pages: length 0, > SIZE_MAX - P, uptr wrap
    expect(map(env, ioas, buf, 0n).errno).toBe(EINVAL);
    expect(map(env, ioas, buf, U64_MAX - P + 1n).errno).toBe(EINVAL);
    expect(map(env, ioas, U64_MAX - P, 2n * P).errno).toBe(EOVERFLOW);
    // 7a. auto: length >= ULONG_MAX/2
    expect(map(env, ioas, 0n, U64_MAX / 2n).errno).toBe(EOVERFLOW);
    // 7b. fixed: wrap, reserved (EINVAL), overlap (EEXIST)
    expect(map(env, ioas, buf, 2n * P, U64_MAX - P).errno).toBe(EOVERFLOW);
    ioptReserveIova(ioasOf(env, ioas).iopt, 0x100000n, 0x100fffn, null);
    expect(map(env, ioas, buf, P, 0x100000n).errno).toBe(EINVAL);
    expect(map(env, ioas, buf, P, 0x200000n).errno).toBe(0);
    expect(map(env, ioas, buf, 2n * P, 0x1ff000n).errno).toBe(EEXIST);
  });
  check('ref.ioas_map.length-vs-wrap-order', () => {
    // 6.12 (iopt_alloc_pages) checks the length before the wrap; 7.3 (iopt_alloc_user_pages) the wrap first.
    for (const [profile, expected] of [['6.12', EINVAL], ['7.3', EOVERFLOW]] as const) {
      const env = newEnv(profile);
      const ioas = ioasAlloc(env);
      expect(map(env, ioas, 0x10000n, U64_MAX - P + 1n).errno).toBe(expected);
      expect(map(env, ioas, 0n, U64_MAX - P + 1n).errno).toBe(EINVAL);
      expect(map(env, ioas, U64_MAX - P, 0n).errno).toBe(EINVAL);
    }
  });
  check('ref.ioas_map.alignment-einval', () => {
    const env = newEnv();
    const ioas = ioasAlloc(env);
    const buf = buffer(env, 16 * 4096);
    const d = new FakeDomain(0x800n | 0xfffff000n, 0n, U64_MAX, 2048);
    expect(ioptTableAddDomain(ioasOf(env, ioas).iopt, d)).toBe(0);
    expect(iovaRanges(env, ioas).alignment).toBe(2048n);
    // 6. length not a multiple of the alignment
    expect(map(env, ioas, buf, 1000n, 0x10000n).errno).toBe(EINVAL);
    // 7b. iova misaligned
    expect(map(env, ioas, buf, 2048n, 0x10400n).errno).toBe(EINVAL);
    // 8. uptr page offset not a multiple of the alignment
    expect(map(env, ioas, buf + 1024n, 2048n, 0x10000n).errno).toBe(EINVAL);
    expect(map(env, ioas, buf + 2048n, 2048n, 0x10800n).errno).toBe(0);
    expect(d.map4k.get(0x10800n)).toBeDefined();
  });
  check('ref.ioas_map.no-domain-no-pin', () => {
    const env = newEnv();
    const ioas = ioasAlloc(env);
    // Nothing is pinned or validated without a domain or an access.
    const r = map(env, ioas, 1n << 31n, 16n * P);
    expect(r.errno).toBe(0);
    const buf = buffer(env, 4 * 4096);
    expect(map(env, ioas, buf, 4n * P).errno).toBe(0);
    expect(env.proc.pinCountOfVa(buf)).toBe(0);
    expect(env.proc.pinnedVm).toBe(0);
  });
  check('ref.ioas_map.auto-iova-placement', () => {
    const env = newEnv();
    const ioas = ioasAlloc(env);
    const buf = buffer(env, 1 << 22); // 2 MiB aligned
    // First fit from PAGE_SIZE, aligned to min(roundup_pow2(len), lowbit(uptr)) capped at 2 MiB.
    expect(map(env, ioas, buf, 4n * P).iova).toBe(0x4000n);
    expect(map(env, ioas, buf, 3n * P).iova).toBe(0x8000n);
    expect(map(env, ioas, buf + P, P).iova).toBe(P);
    expect(map(env, ioas, buf, 4n * MB).iova).toBe(2n * MB);
    // The page offset of the user address is kept.
    const r = map(env, ioas, buf + 0x10n, 16n);
    expect(r.errno).toBe(0);
    expect(r.iova % P).toBe(0x10n);
    // Allowed ranges restrict automatic placement (not fixed maps).
    const arr = env.scratch + 8192n;
    writeRanges(env, arr, [[0x10000000n, 0x1000ffffn]]);
    expect(ioctl(env, NR.IOMMU_IOAS_ALLOW_IOVAS, { ioas_id: ioas, num_iovas: 1, allowed_iovas: arr }).errno).toBe(0);
    expect(map(env, ioas, buf, 4n * P).iova).toBe(0x10000000n);
    expect(map(env, ioas, buf, 0x20000n).errno).toBe(ENOSPC);
    expect(map(env, ioas, buf, P, 0x40000000n).errno).toBe(0);
  });
  check('ref.ioas_map.auto-iova-alignment-einval', () => {
    const env = newEnv();
    const ioas = ioasAlloc(env);
    ioctl(env, NR.IOMMU_OPTION, { option_id: 1, op: 0, object_id: ioas, val64: 0n });
    // alignment from the user VA (16) is below the IOAS alignment (P).
    expect(map(env, ioas, 0x10010n, P).errno).toBe(EINVAL);
  });
});

describe('copy-back faults after the operation committed (uapi §7 I11)', () => {
  check('ref.ioas.copyback-efault-keeps-effect', () => {
    const env = newEnv();
    const ioas = ioasAlloc(env);
    const buf = buffer(env, 4 * 4096);
    // Arguments in read-only memory: copied in fine, the copy-back faults.
    const ro = env.proc.mmap(4096)!;
    const issue = (nr: number, fields: { [k: string]: number | bigint }) => {
      env.proc.mprotect(ro, 4096, { read: true, write: true });
      ioctl(env, nr, fields, { arg: ro, prepareOnly: true });
      env.proc.mprotect(ro, 4096, { read: true, write: false });
      return sysRet(env.ctx.file!.ops.ioctl!(env.ctx.file!, iommufdCmd(nr), ro)).errno;
    };
    expect(issue(NR.IOMMU_IOAS_MAP, { ioas_id: ioas, flags: 7, user_va: buf, length: 4n * P, iova: 0x10000n })).toBe(EFAULT);
    expect(ioasOf(env, ioas).iopt.areas.length).toBe(1);
    expect(issue(NR.IOMMU_IOAS_UNMAP, { ioas_id: ioas, iova: 0x10000n, length: 4n * P })).toBe(EFAULT);
    expect(ioasOf(env, ioas).iopt.areas.length).toBe(0);
    expect(issue(NR.IOMMU_OPTION, { option_id: 1, op: 0, object_id: ioas, val64: 0n })).toBe(EFAULT);
    expect(ioasOf(env, ioas).iopt.disableLargePages).toBe(true);
  });
});

describe('IOMMU_IOAS_UNMAP (ioas.c: iommufd_ioas_unmap, iopt_unmap_iova_range)', () => {
  check('ref.ioas_unmap.errno-order', () => {
    const env = newEnv();
    expect(unmap(env, 3, 0n, U64_MAX).errno).toBe(ENOENT);
    const ioas = ioasAlloc(env);
    expect(unmap(env, ioas, 1n, U64_MAX).errno).toBe(EOVERFLOW);
    expect(unmap(env, ioas, U64_MAX, 1n).errno).toBe(EOVERFLOW);
    expect(unmap(env, ioas, P, 0n).errno).toBe(EINVAL);
    expect(unmap(env, ioas, U64_MAX - 1n, 4n).errno).toBe(EOVERFLOW);
    expect(unmap(env, ioas, P, P).errno).toBe(ENOENT);
  });
  check('ref.ioas_unmap.all-always-succeeds', () => {
    const env = newEnv();
    const ioas = ioasAlloc(env);
    const r = unmap(env, ioas, 0n, U64_MAX);
    expect(r).toEqual({ errno: 0, length: 0n });
    const buf = buffer(env, 16 * 4096);
    map(env, ioas, buf, 4n * P, 0x10000n);
    map(env, ioas, buf, 2n * P, 0x80000n);
    expect(unmap(env, ioas, 0n, U64_MAX)).toEqual({ errno: 0, length: 6n * P });
    expect(ioasOf(env, ioas).iopt.areas).toEqual([]);
  });
  check('ref.ioas_unmap.no-split', () => {
    const env = newEnv();
    const ioas = ioasAlloc(env);
    const buf = buffer(env, 16 * 4096);
    map(env, ioas, buf, 4n * P, 0x10000n);
    expect(unmap(env, ioas, 0x10000n, P).errno).toBe(ENOENT);
    expect(unmap(env, ioas, 0x11000n, 3n * P).errno).toBe(ENOENT);
    expect(ioasOf(env, ioas).iopt.areas.length).toBe(1);
    // A superset unmaps every contained area and returns the total.
    map(env, ioas, buf, 2n * P, 0x20000n);
    expect(unmap(env, ioas, 0x8000n, 0x40000n)).toEqual({ errno: 0, length: 6n * P });
  });
  check('ref.ioas_unmap.partial-progress', () => {
    const env = newEnv();
    const ioas = ioasAlloc(env);
    const buf = buffer(env, 16 * 4096);
    map(env, ioas, buf, 2n * P, 0x10000n);
    map(env, ioas, buf, 4n * P, 0x20000n);
    // The first area is inside the range, the second crosses its end: ENOENT,
    // and the first is already gone (not atomic, as the kernel).
    const r = unmap(env, ioas, 0x10000n, 0x12000n);
    expect(r.errno).toBe(ENOENT);
    expect(ioasOf(env, ioas).iopt.areas.map((a) => a.start)).toEqual([0x20000n]);
  });
});

describe('IOMMU_IOAS_COPY (ioas.c: iommufd_ioas_copy, iopt_get_pages)', () => {
  const copy = (env: Env, f: { [k: string]: number | bigint }) => ioctl(env, NR.IOMMU_IOAS_COPY, { flags: MAP_R | MAP_W | 1, ...f });
  check('ref.ioas_copy.errno-order', () => {
    const env = newEnv();
    expect(copy(env, { flags: 8, length: P }).errno).toBe(EOPNOTSUPP);
    expect(copy(env, { length: U64_MAX }).errno).toBe(EOVERFLOW);
    expect(copy(env, { length: P, src_iova: U64_MAX }).errno).toBe(EOVERFLOW);
    expect(copy(env, { length: P, dst_iova: U64_MAX }).errno).toBe(EOVERFLOW);
    expect(copy(env, { flags: 1, length: P }).errno).toBe(EINVAL);
    expect(copy(env, { src_ioas_id: 1, dst_ioas_id: 2, length: P }).errno).toBe(ENOENT);
    const src = ioasAlloc(env);
    expect(copy(env, { src_ioas_id: src, dst_ioas_id: 9, length: 0n }).errno).toBe(EINVAL);
    expect(copy(env, { src_ioas_id: src, dst_ioas_id: 9, length: 3n, src_iova: U64_MAX - 1n }).errno).toBe(EOVERFLOW);
    expect(copy(env, { src_ioas_id: src, dst_ioas_id: 9, length: P, src_iova: 0x10000n }).errno).toBe(ENOENT);
    const buf = buffer(env, 16 * 4096);
    map(env, src, buf, 4n * P, 0x10000n);
    map(env, src, buf, 4n * P, 0x15000n); // a gap at 0x14000
    expect(copy(env, { src_ioas_id: src, dst_ioas_id: 9, length: 8n * P, src_iova: 0x10000n }).errno).toBe(ENOENT);
    expect(copy(env, { src_ioas_id: src, dst_ioas_id: 9, length: P, src_iova: 0x10000n }).errno).toBe(ENOENT);
    const dst = ioasAlloc(env);
    // The dst checks are MAP's: EEXIST on an occupied fixed IOVA.
    map(env, dst, buf, P, 0x30000n);
    expect(copy(env, { src_ioas_id: src, dst_ioas_id: dst, length: P, src_iova: 0x10000n, dst_iova: 0x30000n }).errno).toBe(EEXIST);
    // A sub-range of an area copies fine.
    const ok = copy(env, { src_ioas_id: src, dst_ioas_id: dst, length: 2n * P, src_iova: 0x11000n, dst_iova: 0x40000n });
    expect(ok.errno).toBe(0);
    // Read-only source pages cannot become writable (EPERM).
    map(env, src, buf, P, 0x50000n, MAP_R);
    expect(copy(env, { src_ioas_id: src, dst_ioas_id: dst, length: P, src_iova: 0x50000n, dst_iova: 0x60000n }).errno).toBe(EPERM);
    expect(copy(env, { flags: MAP_R | 1, src_ioas_id: src, dst_ioas_id: dst, length: P, src_iova: 0x50000n, dst_iova: 0x60000n }).errno).toBe(0);
  });
  check('ref.ioas_copy.syz-iova', () => {
    const env = newEnv();
    const src = ioasAlloc(env);
    const dst = ioasAlloc(env);
    const buf = buffer(env, 8 * 4096);
    map(env, src, buf, 2n * P, 0x10000n);
    map(env, src, buf, 4n * P, 0x20000n);
    // CONFIG_IOMMUFD_TEST: MOCK_FLAGS_ACCESS_SYZ is stripped and src_iova = { nth_area: 1, offset: 0x1000 }.
    const syz = (1n << 32n) * 0x1000n + 1n;
    const r = copy(env, { flags: (1 << 16) | 7, src_ioas_id: src, dst_ioas_id: dst, length: P, src_iova: syz, dst_iova: 0x80000n });
    expect(r.errno).toBe(0);
    expect(r.out.num('flags')).toBe(7);
    expect(r.out.big('src_iova')).toBe(0x21000n);
    // A bad IOAS id leaves the IOVA alone but the flag is still stripped: ENOENT, not EOPNOTSUPP.
    expect(copy(env, { flags: (1 << 16) | 7, src_ioas_id: 9, dst_ioas_id: dst, length: P, src_iova: syz }).errno).toBe(ENOENT);
  });
  check('ref.ioas_copy.contiguous-areas', () => {
    const env = newEnv();
    const src = ioasAlloc(env);
    const dst = ioasAlloc(env);
    const buf = buffer(env, 16 * 4096);
    map(env, src, buf, 2n * P, 0x10000n);
    map(env, src, buf + 8n * P, 2n * P, 0x12000n);
    const r = copy(env, { src_ioas_id: src, dst_ioas_id: dst, length: 3n * P, src_iova: 0x11000n, dst_iova: 0x80000n });
    expect(r.errno).toBe(0);
    // One new area per source piece.
    expect(ioasOf(env, dst).iopt.areas.map((a) => [a.start, a.last])).toEqual([
      [0x80000n, 0x80fffn],
      [0x81000n, 0x82fffn],
    ]);
  });
  check('ref.ioas_copy.pins-once', () => {
    const env = newEnv();
    const src = ioasAlloc(env);
    const dst = ioasAlloc(env);
    const d1 = new FakeDomain();
    const d2 = new FakeDomain();
    ioptTableAddDomain(ioasOf(env, src).iopt, d1);
    ioptTableAddDomain(ioasOf(env, dst).iopt, d2);
    const buf = buffer(env, 4 * 4096);
    expect(map(env, src, buf, 4n * P, 0x10000n).errno).toBe(0);
    expect(env.proc.pinCountOfVa(buf)).toBe(1);
    expect(copy(env, { src_ioas_id: src, dst_ioas_id: dst, length: 4n * P, src_iova: 0x10000n, dst_iova: 0x20000n }).errno).toBe(0);
    expect(env.proc.pinCountOfVa(buf)).toBe(1);
    expect(env.proc.pinnedVm).toBe(4);
    expect(d2.map4k.get(0x20000n)!.pa).toBe(d1.map4k.get(0x10000n)!.pa);
    // A second MAP of the same VA is a separate iopt_pages: pinned twice.
    expect(map(env, src, buf, 4n * P, 0x30000n).errno).toBe(0);
    expect(env.proc.pinCountOfVa(buf)).toBe(2);
    unmap(env, src, 0n, U64_MAX);
    expect(env.proc.pinCountOfVa(buf)).toBe(1);
    unmap(env, dst, 0n, U64_MAX);
    expect(env.proc.pinCountOfVa(buf)).toBe(0);
    expect(env.proc.pinnedVm).toBe(0);
  });
});

describe('domains and pinning (iopt_table_add_domain, pages.c)', () => {
  check('ref.iopt.domain-mirrors-areas', () => {
    const env = newEnv();
    const ioas = ioasAlloc(env);
    const iopt = ioasOf(env, ioas).iopt;
    const buf = buffer(env, 8 * 4096);
    map(env, ioas, buf, 4n * P, 0x10000n);
    const d = new FakeDomain();
    expect(ioptTableAddDomain(iopt, d)).toBe(0);
    expect([...d.map4k.keys()]).toEqual([0x10000n, 0x11000n, 0x12000n, 0x13000n]);
    expect(d.map4k.get(0x11000n)!.pa).toBe(env.proc.translateVa(buf + P)!.pfn * 4096);
    expect(env.proc.pinCountOfVa(buf)).toBe(1);
    map(env, ioas, buf + 4n * P, 4n * P, 0x20000n);
    expect(d.map4k.size).toBe(8);
    const d2 = new FakeDomain();
    expect(ioptTableAddDomain(iopt, d2)).toBe(0);
    expect(d2.map4k.size).toBe(8);
    expect(env.proc.pinCountOfVa(buf)).toBe(1);
    ioptTableRemoveDomain(iopt, d);
    expect(env.proc.pinCountOfVa(buf)).toBe(1);
    ioptTableRemoveDomain(iopt, d2);
    expect(env.proc.pinCountOfVa(buf)).toBe(0);
    expect(d2.map4k.size).toBe(0);
  });
  check('ref.iopt.add-domain-errors', () => {
    const env = newEnv();
    const ioas = ioasAlloc(env);
    const iopt = ioasOf(env, ioas).iopt;
    const buf = buffer(env, 8 * 4096);
    // Min page size above PAGE_SIZE -> EINVAL.
    expect(ioptTableAddDomain(iopt, new FakeDomain(0x200000n))).toBe(-EINVAL);
    // Existing misaligned area -> EADDRINUSE.
    map(env, ioas, buf + 0x10n, 0x100n, 0x10010n);
    expect(ioptTableAddDomain(iopt, new FakeDomain())).toBe(-EADDRINUSE);
    unmap(env, ioas, 0n, U64_MAX);
    // Aperture excludes an area -> EADDRINUSE; nothing reserved afterwards.
    map(env, ioas, buf, P, 0x10000n);
    expect(ioptTableAddDomain(iopt, new FakeDomain(0xfffff000n, 1n << 24n, (1n << 31n) - 1n))).toBe(-EADDRINUSE);
    expect(iopt.reserved).toEqual([]);
    // A bad user VA fails the fill with EFAULT and leaves nothing pinned.
    unmap(env, ioas, 0n, U64_MAX);
    map(env, ioas, buf, P, 0x1000000n);
    map(env, ioas, 1n << 40n, P, 0x1100000n);
    const d = new FakeDomain(0xfffff000n, 1n << 24n, (1n << 31n) - 1n);
    expect(ioptTableAddDomain(iopt, d)).toBe(-EFAULT);
    expect(env.proc.totalPins).toBe(0);
    expect(d.map4k.size).toBe(0);
    expect(iopt.reserved).toEqual([]);
  });
  check('ref.iopt.aperture-reserved', () => {
    const env = newEnv();
    const ioas = ioasAlloc(env);
    const d = new FakeDomain(0x800n | 0xfffff000n, 1n << 24n, (1n << 31n) - 1n, 2048);
    expect(ioptTableAddDomain(ioasOf(env, ioas).iopt, d)).toBe(0);
    const r = iovaRanges(env, ioas);
    expect(r.ranges).toEqual([[1n << 24n, (1n << 31n) - 1n]]);
    expect(r.alignment).toBe(2048n);
    // Allowed ranges may not intersect the aperture's reservations.
    const arr = env.scratch + 8192n;
    writeRanges(env, arr, [[0n, 0xfffn]]);
    expect(ioctl(env, NR.IOMMU_IOAS_ALLOW_IOVAS, { ioas_id: ioas, num_iovas: 1, allowed_iovas: arr }).errno).toBe(EADDRINUSE);
  });
  check('ref.ioas_map.efault-bad-uva-with-domain', () => {
    const env = newEnv();
    const ioas = ioasAlloc(env);
    ioptTableAddDomain(ioasOf(env, ioas).iopt, new FakeDomain());
    expect(map(env, ioas, 1n << 40n, P, 0x10000n).errno).toBe(EFAULT);
    expect(ioasOf(env, ioas).iopt.areas).toEqual([]);
    // A huge length over a small buffer faults at the buffer's end (pinning stops at the first bad page).
    const small = buffer(env, 4 * 4096);
    expect(map(env, ioas, small, 1n << 40n, 0x10000000n).errno).toBe(EFAULT);
    expect(env.proc.totalPins).toBe(0);
    // Writable map of read-only memory faults too (FOLL_WRITE).
    const ro = env.proc.mmap(2 * 4096)!;
    env.proc.mprotect(ro, 2 * 4096, { read: true, write: false });
    expect(map(env, ioas, ro, 2n * P, 0x10000n).errno).toBe(EFAULT);
    expect(map(env, ioas, ro, 2n * P, 0x10000n, MAP_R).errno).toBe(0);
    expect(env.proc.totalPins).toBe(2);
  });
  check('ref.option.huge-pages-disable', () => {
    const env = newEnv();
    const ioas = ioasAlloc(env);
    const buf = buffer(env, 8 * 4096);
    const setHuge = (v: bigint) => ioctl(env, NR.IOMMU_OPTION, { option_id: 1, op: 0, object_id: ioas, val64: v }).errno;
    map(env, ioas, buf + 0x10n, 0x100n);
    // Areas not P-aligned -> EADDRINUSE.
    expect(setHuge(0n)).toBe(EADDRINUSE);
    unmap(env, ioas, 0n, U64_MAX);
    map(env, ioas, buf, P);
    const d = new FakeDomain();
    ioptTableAddDomain(ioasOf(env, ioas).iopt, d);
    // Both domains and areas -> EINVAL.
    expect(setHuge(0n)).toBe(EINVAL);
    unmap(env, ioas, 0n, U64_MAX);
    expect(setHuge(0n)).toBe(0);
  });
  check('ref.ioas.destroy-ebusy-with-domain-user', () => {
    const env = newEnv();
    const ioas = ioasAlloc(env);
    ioasOf(env, ioas).users++; // as a HWPT_PAGING on it would
    expect(ioctl(env, NR.IOMMU_DESTROY, { id: ioas }).errno).toBe(EBUSY);
    ioasOf(env, ioas).users--;
    expect(ioctl(env, NR.IOMMU_DESTROY, { id: ioas }).errno).toBe(0);
  });
});

describe('accounting (pages.c: do_update_pinned)', () => {
  function setup(mode: 'USER' | 'MM', limitPages: number, capIpcLock = false) {
    const env = newEnv();
    env.proc.rlimitMemlock = BigInt(limitPages) * P;
    env.proc.capIpcLock = capIpcLock;
    if (mode === 'MM') {
      env.proc.capSysResource = true;
      expect(ioctl(env, NR.IOMMU_OPTION, { option_id: 0, op: 0, val64: 1n }).errno).toBe(0);
    }
    const ioas = ioasAlloc(env);
    ioptTableAddDomain(ioasOf(env, ioas).iopt, new FakeDomain());
    return { env, ioas, buf: buffer(env, 16 * 4096) };
  }
  check('ref.pages.rlimit-user-enomem', () => {
    const { env, ioas, buf } = setup('USER', 4);
    expect(map(env, ioas, buf, 4n * P).errno).toBe(0);
    expect(env.proc.user.lockedVm).toBe(4);
    expect(env.proc.lockedVm).toBe(0);
    expect(map(env, ioas, buf + 4n * P, P).errno).toBe(ENOMEM);
    // Nothing of the failed map stays pinned or charged.
    expect(env.proc.pinCountOfVa(buf + 4n * P)).toBe(0);
    expect(env.proc.user.lockedVm).toBe(4);
    expect(env.proc.pinnedVm).toBe(4);
    unmap(env, ioas, 0n, U64_MAX);
    expect(env.proc.user.lockedVm).toBe(0);
    expect(env.proc.pinnedVm).toBe(0);
  });
  check('ref.pages.charge-after-fill', () => {
    // pages.c fills the domains batch by batch and charges the pins after
    // (pfn_reader_update_pinned follows batch_to_domain in
    // iopt_area_fill_domain(s), both kernels): a domain that refuses the map
    // answers before RLIMIT_MEMLOCK would — the 7.3 lane's EINVAL for a
    // VFIO_IOMMU_MAP_DMA without READ/WRITE over the limit, not ENOMEM.
    class Refusing extends FakeDomain {
      override map(): number {
        return -EINVAL;
      }
    }
    const env = newEnv();
    env.proc.rlimitMemlock = 2n * P;
    env.proc.capIpcLock = false;
    const ioas = ioasAlloc(env);
    ioptTableAddDomain(ioasOf(env, ioas).iopt, new Refusing());
    const buf = buffer(env, 16 * 4096);
    expect(map(env, ioas, buf, 4n * P).errno).toBe(EINVAL);
    // Nothing of it stays pinned or charged.
    expect(env.proc.pinCountOfVa(buf)).toBe(0);
    expect(env.proc.user.lockedVm).toBe(0);
    expect(env.proc.pinnedVm).toBe(0);
  });
  check('ref.pages.pin-for-write-efault', () => {
    // A writable mapping pins with FOLL_WRITE: read-only user memory is refused (EFAULT), and
    // nothing of the refused map stays pinned; a read-only mapping of the same pages pins fine.
    const { env, ioas, buf } = setup('USER', 64, true);
    expect(env.proc.mprotect(buf + P, 4096, PROT_R)).toBe(true);
    expect(map(env, ioas, buf, 2n * P).errno).toBe(EFAULT);
    expect(env.proc.pinCountOfVa(buf)).toBe(0);
    expect(map(env, ioas, buf, 2n * P, undefined, MAP_R).errno).toBe(0);
    expect(env.proc.pinCountOfVa(buf + P)).toBe(1);
  });
  check('ref.pages.rlimit-mm-mode', () => {
    const { env, ioas, buf } = setup('MM', 2);
    expect(map(env, ioas, buf, 2n * P).errno).toBe(0);
    expect(env.proc.lockedVm).toBe(2);
    expect(env.proc.user.lockedVm).toBe(0);
    expect(map(env, ioas, buf, P).errno).toBe(ENOMEM);
  });
  check('ref.pages.cap-ipc-lock-exempt', () => {
    const { env, ioas, buf } = setup('USER', 0, true);
    expect(map(env, ioas, buf, 8n * P).errno).toBe(0);
    expect(env.proc.user.lockedVm).toBe(0);
    expect(env.proc.pinnedVm).toBe(8);
  });
});

describe('steering seam for the differential oracle', () => {
  check('ref.iopt.auto-iova-steering', () => {
    const env = newEnv();
    const ioas = ioasAlloc(env);
    const iopt = ioasOf(env, ioas).iopt;
    const buf = buffer(env, 4 * 4096); // 2 MiB aligned
    // The rule allows any 16 KiB-aligned free IOVA for a 16 KiB map of an aligned buffer.
    expect(ioptAutoIovaAllowed(iopt, buf, 4n * P, 0x40000n)).toBe(true);
    expect(ioptAutoIovaAllowed(iopt, buf, 4n * P, 0x41000n)).toBe(false); // misaligned
    expect(ioptAutoIovaAllowed(iopt, buf, 4n * P, 0n)).toBe(false); // below PAGE_SIZE
    iopt.steerAutoIova = () => 0x40000n;
    expect(map(env, ioas, buf, 4n * P).iova).toBe(0x40000n);
    // A choice the rules forbid (now occupied) is ignored: first fit instead.
    expect(map(env, ioas, buf, 4n * P).iova).toBe(0x4000n);
  });
});
