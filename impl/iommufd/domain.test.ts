/**
 * The core with DEVICES' mock domains on the page-table core: pinning once per
 * iopt_pages, every domain mirroring the areas (MD_CHECK_MAP), accounting and
 * teardown, through the real dispatch.
 */
import { describe, expect } from 'vitest';
import { check } from '../../spec/clauses/check.ts';
import { EINVAL, ENOMEM } from '../lib/errno.ts';
import { IOMMU_TEST_OP_MD_CHECK_MAP, IOMMU_TEST_OP_MD_CHECK_REFS, IOMMU_TEST_OP_MOCK_DOMAIN, IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE } from '../../spec/uapi/constants.ts';
import { buffer, ioasAlloc, ioctl, iovaRanges, map, NR, newEnv, P, sweepFailNth, testCmd, U64_MAX, unmap, type Env } from '../testing/testutil.ts';


function mockDomain(env: Env, ioas: number): { stdev: number; hwpt: number; idev: number; errno: number } {
  const r = testCmd(env, IOMMU_TEST_OP_MOCK_DOMAIN, ioas, {});
  return { errno: r.errno, stdev: r.out.num('mock_domain.out_stdev_id'), hwpt: r.out.num('mock_domain.out_hwpt_id'), idev: r.out.num('mock_domain.out_idev_id') };
}
const checkMap = (env: Env, hwpt: number, iova: bigint, length: bigint, uptr: bigint) =>
  testCmd(env, IOMMU_TEST_OP_MD_CHECK_MAP, hwpt, { 'check_map.iova': iova, 'check_map.length': length, 'check_map.uptr': uptr }).errno;
const checkRefs = (env: Env, uptr: bigint, length: bigint, refs: number) =>
  testCmd(env, IOMMU_TEST_OP_MD_CHECK_REFS, 0, { 'check_refs.uptr': uptr, 'check_refs.length': length, 'check_refs.refs': refs }).errno;

describe('IOAS with mock domains (selftest.c mock IOMMU)', () => {
  check('ref.mock.ids-and-ranges', () => {
    const env = newEnv();
    const ioas = ioasAlloc(env);
    const md = mockDomain(env, ioas);
    expect(md).toEqual({ errno: 0, stdev: 2, idev: 3, hwpt: 4 });
    const r = iovaRanges(env, ioas);
    expect(r.ranges).toEqual([[1n << 24n, (1n << 31n) - 1n]]);
    expect(r.alignment).toBe(2048n);
  });
  check('ref.mock.map-pins-once-two-domains', () => {
    const env = newEnv();
    const ioas = ioasAlloc(env);
    const d1 = mockDomain(env, ioas);
    const d2 = mockDomain(env, ioas);
    expect(d2.errno).toBe(0);
    const buf = buffer(env, 16 * 4096);
    const m = map(env, ioas, buf, 16n * P);
    expect(m.errno).toBe(0);
    expect(checkRefs(env, buf, 16n * P, 1)).toBe(0);
    expect(checkMap(env, d1.hwpt, m.iova, 16n * P, buf)).toBe(0);
    expect(checkMap(env, d2.hwpt, m.iova, 16n * P, buf)).toBe(0);
    // A mismatch is detected (the oracle can fail).
    expect(checkMap(env, d1.hwpt, m.iova, 16n * P, buf + P)).not.toBe(0);
    expect(unmap(env, ioas, 0n, U64_MAX).length).toBe(16n * P);
    expect(checkRefs(env, buf, 16n * P, 0)).toBe(0);
  });
  check('ref.mock.domain-added-after-map', () => {
    const env = newEnv();
    const ioas = ioasAlloc(env);
    const buf = buffer(env, 8 * 4096);
    const m = map(env, ioas, buf, 8n * P, 1n << 24n);
    expect(m.errno).toBe(0);
    expect(checkRefs(env, buf, 8n * P, 0)).toBe(0);
    const d = mockDomain(env, ioas);
    expect(d.errno).toBe(0);
    expect(checkRefs(env, buf, 8n * P, 1)).toBe(0);
    expect(checkMap(env, d.hwpt, m.iova, 8n * P, buf)).toBe(0);
    // Destroying the mock device frees its auto domain and unpins.
    expect(ioctl(env, NR.IOMMU_DESTROY, { id: d.stdev }).errno).toBe(0);
    expect(checkRefs(env, buf, 8n * P, 0)).toBe(0);
    expect(iovaRanges(env, ioas).ranges).toEqual([[0n, U64_MAX]]);
  });
  check('ref.mock.map-outside-aperture', () => {
    const env = newEnv();
    const ioas = ioasAlloc(env);
    mockDomain(env, ioas);
    const buf = buffer(env, 4096);
    expect(map(env, ioas, buf, P, 0x1000n).errno).toBe(EINVAL);
  });
  check('ref.mock.rlimit', () => {
    const env = newEnv();
    env.proc.rlimitMemlock = 4n * P;
    const ioas = ioasAlloc(env);
    mockDomain(env, ioas);
    const buf = buffer(env, 16 * 4096);
    expect(map(env, ioas, buf, 16n * P).errno).toBe(ENOMEM);
    expect(checkRefs(env, buf, 16n * P, 0)).toBe(0);
    expect(env.proc.user.lockedVm).toBe(0);
    expect(map(env, ioas, buf, 4n * P).errno).toBe(0);
  });
  check('ref.mock.close-releases-everything', () => {
    const env = newEnv();
    const ioas = ioasAlloc(env);
    mockDomain(env, ioas);
    mockDomain(env, ioas);
    const buf = buffer(env, 16 * 4096);
    map(env, ioas, buf, 16n * P);
    env.proc.fds.close(env.fd);
    expect(env.file.released).toBe(true);
    expect(env.proc.totalPins).toBe(0);
    expect(env.proc.pinnedVm).toBe(0);
    expect(env.proc.user.lockedVm).toBe(0);
  });
  check('ref.fail_nth.map-mock-domain', () => {
    const setup = () => {
      const env = newEnv();
      const ioas = ioasAlloc(env);
      expect(mockDomain(env, ioas).errno).toBe(0);
      expect(mockDomain(env, ioas).errno).toBe(0);
      return { env };
    };
    const r = sweepFailNth(setup, (env) => map(env, 1, buffer(env, 16 * 4096), 16n * P).errno);
    expect(r.injected).toBeGreaterThanOrEqual(5);
  });
  check('ref.fail_nth.mock-domain-attach', () => {
    const setup = () => {
      const env = newEnv();
      const ioas = ioasAlloc(env);
      expect(map(env, ioas, buffer(env, 16 * 4096), 16n * P, 1n << 24n).errno).toBe(0);
      return { env };
    };
    const r = sweepFailNth(setup, (env) => mockDomain(env, 1).errno);
    expect(r.injected).toBeGreaterThanOrEqual(5);
  });
  check('ref.fail_nth.hwpt-alloc', () => {
    const setup = () => {
      const env = newEnv();
      const ioas = ioasAlloc(env);
      expect(map(env, ioas, buffer(env, 16 * 4096), 16n * P, 1n << 24n).errno).toBe(0);
      expect(mockDomain(env, ioas).errno).toBe(0);
      return { env };
    };
    // HWPT_ALLOC(dev_id = the mock idev, pt_id = the IOAS): a manual paging HWPT filled with the area.
    const r = sweepFailNth(setup, (env) => ioctl(env, 0x89, { dev_id: 3, pt_id: 1 }).errno);
    expect(r.injected).toBeGreaterThanOrEqual(3);
  });
  check('ref.fail_nth.mock-domain-replace', () => {
    const setup = () => {
      const env = newEnv();
      const a = ioasAlloc(env);
      const b = ioasAlloc(env);
      expect(map(env, a, buffer(env, 8 * 4096), 8n * P, 1n << 24n).errno).toBe(0);
      expect(map(env, b, buffer(env, 8 * 4096), 8n * P, 1n << 25n).errno).toBe(0);
      expect(mockDomain(env, a).errno).toBe(0);
      return { env };
    };
    // Replace the mock device's attachment (stdev 3) with IOAS 2: a new auto domain there.
    const r = sweepFailNth(setup, (env) => testCmd(env, IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE, 3, { 'mock_domain_replace.pt_id': 2 }).errno);
    expect(r.injected).toBeGreaterThanOrEqual(3);
  });
});
