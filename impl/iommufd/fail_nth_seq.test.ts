/**
 * The kernel's own fail-nth programs (tools/testing/selftests/iommu/
 * iommufd_fail_nth.c, TEST_FAIL_NTH basic and access_pin_domain): fail-nth is
 * armed once for a whole sequence of ioctls, the sequence stops at its first
 * failure, everything is closed, and nothing may be left pinned, charged or
 * referenced. Repeated for n = 1, 2, ... until a run sees no injection.
 */
import { describe, expect } from 'vitest';
import { check } from '../../spec/clauses/check.ts';
import { buffer, ioasAlloc, ioctl, map, NR, newEnv, P, physLeak, testCmd, unmap, writeRanges, type Env } from '../testing/testutil.ts';
import {
  IOMMU_TEST_OP_ACCESS_PAGES,
  IOMMU_TEST_OP_CREATE_ACCESS,
  IOMMU_TEST_OP_DESTROY_ACCESS_PAGES,
  IOMMU_TEST_OP_MOCK_DOMAIN,
  IOMMU_TEST_OP_SET_TEMP_MEMORY_LIMIT,
} from '../../spec/uapi/constants.ts';

const BUFFER_SIZE = 16n * P;

/** Runs `seq` with fail-nth n armed at `armAt` (a step index); returns whether an injection happened. */
function runOnce(seq: ((env: Env, s: Record<string, number | bigint>) => number)[], n: number, armAt: number): boolean {
  const env = newEnv();
  const state: Record<string, number | bigint> = {};
  for (let i = 0; i < seq.length; i++) {
    if (i === armAt) env.proc.faults.arm(n);
    if (seq[i]!(env, state)) break;
  }
  const injected = env.proc.faults.injected;
  env.proc.faults.disarm();
  env.proc.fds.closeAll();
  expect(env.ctx.warnings).toEqual([]);
  expect(env.file.released).toBe(true);
  expect(env.proc.totalPins).toBe(0);
  expect(env.proc.pinnedVm).toBe(0);
  expect(env.proc.user.lockedVm).toBe(0);
  expect(env.proc.lockedVm).toBe(0);
  expect(physLeak(env)).toBe('');
  return injected;
}

function sweep(seq: ((env: Env, s: Record<string, number | bigint>) => number)[], armAt = 0): number {
  for (let n = 1; n <= 400; n++) if (!runOnce(seq, n, armAt)) return n - 1;
  throw new Error('did not converge');
}

describe('fail-nth sequences (iommufd_fail_nth.c)', () => {
  check('ref.fail_nth.seq-basic', () => {
    const injected = sweep([
      (env, s) => {
        const r = ioctl(env, NR.IOMMU_IOAS_ALLOC, {});
        s.ioas = r.out.num('out_ioas_id');
        return r.errno;
      },
      (env, s) => ioctl(env, NR.IOMMU_IOAS_IOVA_RANGES, { ioas_id: s.ioas!, num_iovas: 10, allowed_iovas: env.scratch + 8192n }).errno,
      (env, s) => {
        writeRanges(env, env.scratch + 8192n, [[16n * 1024n, BUFFER_SIZE + 16n * 1024n * 600n - 1n]]);
        return ioctl(env, NR.IOMMU_IOAS_ALLOW_IOVAS, { ioas_id: s.ioas!, num_iovas: 1, allowed_iovas: env.scratch + 8192n }).errno;
      },
      (env, s) => {
        const m = map(env, Number(s.ioas), buffer(env, Number(BUFFER_SIZE)), BUFFER_SIZE);
        s.iova = m.iova;
        return m.errno;
      },
      (env, s) => ioctl(env, NR.IOMMU_IOAS_COPY, { flags: 6, dst_ioas_id: s.ioas!, src_ioas_id: s.ioas!, src_iova: s.iova!, length: 160n }).errno,
      (env, s) => unmap(env, Number(s.ioas), BigInt(s.iova!), BUFFER_SIZE).errno,
      (env, s) => {
        unmap(env, Number(s.ioas), BigInt(s.iova!), BUFFER_SIZE); // failure path of no IOVA to unmap
        return 0;
      },
    ]);
    expect(injected).toBeGreaterThanOrEqual(8);
  });
  check('ref.fail_nth.seq-access-pin-domain', () => {
    const seq: ((env: Env, s: Record<string, number | bigint>) => number)[] = [
      (env, s) => {
        s.ioas = ioasAlloc(env);
        s.buf = buffer(env, Number(BUFFER_SIZE));
        return testCmd(env, IOMMU_TEST_OP_SET_TEMP_MEMORY_LIMIT, 0, { 'memory_limit.limit': 32 }).errno;
      },
      (env, s) => {
        const r = testCmd(env, IOMMU_TEST_OP_MOCK_DOMAIN, Number(s.ioas), {});
        s.stdev = r.out.num('mock_domain.out_stdev_id');
        return r.errno;
      },
      (env, s) => {
        const m = map(env, Number(s.ioas), BigInt(s.buf!), BUFFER_SIZE);
        s.iova = m.iova;
        return m.errno;
      },
      (env, s) => {
        const r = testCmd(env, IOMMU_TEST_OP_CREATE_ACCESS, Number(s.ioas), { 'create_access.flags': 1 });
        s.access = r.out.num('create_access.out_access_fd');
        return r.errno;
      },
      // fail-nth is enabled from here on, as in the kernel test.
      (env, s) => {
        const r = testCmd(env, IOMMU_TEST_OP_ACCESS_PAGES, Number(s.access), { 'access_pages.iova': s.iova!, 'access_pages.length': BUFFER_SIZE, 'access_pages.uptr': s.buf! });
        s.item = r.out.num('access_pages.out_access_pages_id');
        return r.errno;
      },
      (env, s) => testCmd(env, IOMMU_TEST_OP_DESTROY_ACCESS_PAGES, Number(s.access), { 'destroy_access_pages.access_pages_id': s.item! }).errno,
      (env, s) => env.proc.fds.close(Number(s.access)),
      (env, s) => ioctl(env, NR.IOMMU_DESTROY, { id: s.stdev! }).errno,
    ];
    const injected = sweep(seq, 4);
    expect(injected).toBeGreaterThanOrEqual(3);
  });
});
