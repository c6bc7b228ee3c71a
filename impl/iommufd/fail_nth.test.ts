import { describe, expect } from 'vitest';
import { check } from '../../spec/clauses/check.ts';
import type { IommufdIoas } from './iommufd_private.ts';
import { ioptTableAddDomain } from './io_pagetable.ts';
import { IOMMU_TEST_OP_ACCESS_PAGES, IOMMU_TEST_OP_ACCESS_RW, IOMMU_TEST_OP_CREATE_ACCESS } from '../../spec/uapi/constants.ts';
import { buffer, FakeDomain, ioasAlloc, ioctl, map, NR, newEnv, P, sweepFailNth, testCmd, unmap, type Env } from '../testing/testutil.ts';
import { FaultInjector } from '../lib/fail_nth.ts';
import { EFAULT, ENOMEM } from '../lib/errno.ts';

const ioasOf = (env: Env, id: number): IommufdIoas => env.ctx.objects.load(id) as IommufdIoas;

/** Two IOASes, each with a domain (two for the first), a buffer mapped in the first. */
function world() {
  const env = newEnv();
  const a = ioasAlloc(env);
  const b = ioasAlloc(env);
  const domains = [new FakeDomain(), new FakeDomain(), new FakeDomain()];
  ioptTableAddDomain(ioasOf(env, a).iopt, domains[0]!);
  ioptTableAddDomain(ioasOf(env, a).iopt, domains[1]!);
  ioptTableAddDomain(ioasOf(env, b).iopt, domains[2]!);
  const buf = buffer(env, 16 * 4096);
  expect(map(env, a, buf, 8n * P, 0x100000n).errno).toBe(0);
  return { env, domains, a, b, buf };
}

describe('fail-nth (iommufd_fail_nth.c): every fallible step fails atomically and leaks nothing', () => {
  check('ref.fail_nth.injector', () => {
    const f = new FaultInjector();
    f.arm(3);
    expect([f.shouldFail(), f.shouldFail(), f.shouldFail(), f.shouldFail()]).toEqual([false, false, true, false]);
    expect(f.injected).toBe(true);
  });
  check('ref.fail_nth.ioas-alloc', () => {
    const r = sweepFailNth(() => ({ env: newEnv() }), (env) => ioctl(env, NR.IOMMU_IOAS_ALLOC, {}).errno);
    expect(r.injected).toBe(2);
  });
  check('ref.fail_nth.map', () => {
    const r = sweepFailNth(world, (env) => map(env, 1, buffer(env, 8 * 4096), 8n * P).errno);
    expect(r.injected).toBeGreaterThanOrEqual(5);
  });
  check('ref.fail_nth.map-fixed-two-domains', () => {
    const r = sweepFailNth(world, (env) => map(env, 1, env.proc.mmap(4 * 4096)!, 4n * P, 0x200000n).errno);
    expect(r.errnos).toContain(EFAULT); // the pin site
    expect(r.errnos).toContain(ENOMEM); // the charge site
  });
  check('ref.fail_nth.copy', () => {
    const r = sweepFailNth(
      world,
      (env) => ioctl(env, NR.IOMMU_IOAS_COPY, { flags: 7, src_ioas_id: 1, dst_ioas_id: 2, length: 8n * P, src_iova: 0x100000n, dst_iova: 0x300000n }).errno
    );
    expect(r.injected).toBeGreaterThanOrEqual(3);
  });
  check('ref.fail_nth.unmap', () => {
    const r = sweepFailNth(world, (env) => unmap(env, 1, 0x100000n, 8n * P).errno);
    expect(r.injected).toBe(1); // only the IOAS lookup can fail
  });
  check('ref.fail_nth.access-pin', () => {
    const setup = () => {
      const w = world();
      const r = testCmd(w.env, IOMMU_TEST_OP_CREATE_ACCESS, w.b, { 'create_access.flags': 1 });
      expect(r.errno).toBe(0);
      // Map into an IOAS with an access but no domain pinned pages: only the access pins.
      const env = w.env;
      const c = ioasAlloc(env);
      map(env, c, w.buf, 4n * P, 0x10000n);
      testCmd(env, 11, r.out.num('create_access.out_access_fd'), { 'access_replace_ioas.ioas_id': c });
      return { env: w.env, domains: w.domains };
    };
    const fdOf = (env: Env) => env.proc.fds.openFds.filter((fd) => env.proc.fds.lookup(fd)!.kind === 'selftest-access')[0]!;
    const r = sweepFailNth(setup, (env) => testCmd(env, IOMMU_TEST_OP_ACCESS_PAGES, fdOf(env), { 'access_pages.iova': 0x10000n, 'access_pages.length': 2n * P }).errno);
    expect(r.injected).toBeGreaterThanOrEqual(4);
  });
  check('ref.fail_nth.access-rw', () => {
    const setup = () => {
      const w = world();
      testCmd(w.env, IOMMU_TEST_OP_CREATE_ACCESS, w.a, { 'create_access.flags': 0 });
      return { env: w.env, domains: w.domains };
    };
    const fdOf = (env: Env) => env.proc.fds.openFds.filter((fd) => env.proc.fds.lookup(fd)!.kind === 'selftest-access')[0]!;
    const r = sweepFailNth(setup, (env) => testCmd(env, IOMMU_TEST_OP_ACCESS_RW, fdOf(env), { 'access_rw.iova': 0x100000n, 'access_rw.length': 16n, 'access_rw.uptr': env.scratch + 8192n }).errno);
    expect(r.injected).toBeGreaterThanOrEqual(1);
  });
  check('ref.fail_nth.add-domain', () => {
    const r = sweepFailNth(
      () => {
        const w = world();
        return { env: w.env, domains: w.domains };
      },
      (env) => ioptTableAddDomain(ioasOf(env, 1).iopt, new FakeDomain(0xfffff000n, 1n << 20n, (1n << 40n) - 1n)),
    );
    expect(r.injected).toBeGreaterThanOrEqual(2);
  });
});
