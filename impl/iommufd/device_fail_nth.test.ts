/**
 * Fail-nth sweeps for the device side (tools/testing/selftests/iommu/
 * iommufd_fail_nth.c style): rerun a sequence failing its 1st, 2nd, ...
 * fallible step until a run completes with no injection. After every failed
 * run the state is exactly as before; after every run, closing everything
 * leaves no object, pin or page-table domain behind.
 */
import { describe, expect } from 'vitest';
import { check } from '../../spec/clauses/check.ts';
import { buffer, ioasAlloc, map, newEnv, physLeak, releaseEnv, type Env } from '../testing/testutil.ts';
import { boundDevice, hwptAlloc, machine, mockDomain, mockReplace, openDev, snapshot, vfioAttach, vfioBind } from '../testing/devtestutil.ts';
import { IommuDomain } from '../platform/iommu.ts';

interface Scenario {
  env: Env;
  run(): number;
}

/** Close every fd of the process and check nothing is left. */
function teardown(env: Env, domainsBefore: number): void {
  env.proc.fds.closeAll();
  expect(env.ctx.objects.empty).toBe(true);
  expect(env.proc.totalPins).toBe(0);
  expect(IommuDomain.livePaging).toBe(domainsBefore);
  // every page-table page of every domain went back to the machine's allocator
  expect(machine(env).env.mem.tablePages).toBe(0);
  // ... which is the process's memory: no data page is held but the process's own
  expect(machine(env).env.mem).toBe(env.proc.phys);
  expect(physLeak(env)).toBe('');
}

/** Sweeps both profiles; returns the fewest fallible steps the sequence has. */
function sweep(setup: (profile: '6.12' | '7.3') => Scenario): number {
  return Math.min(sweepProfile('6.12', setup), sweepProfile('7.3', setup));
}

function sweepProfile(profile: '6.12' | '7.3', setup: (profile: '6.12' | '7.3') => Scenario): number {
  for (let nth = 1; nth < 400; nth++) {
    const domainsBefore = IommuDomain.livePaging;
    const s = setup(profile);
    try {
      const before = snapshot(s.env);
      s.env.proc.faults.arm(nth);
      const rc = s.run();
      const injected = s.env.proc.faults.injected;
      s.env.proc.faults.disarm();
      if (!injected) {
        expect([profile, rc]).toEqual([profile, 0]);
        teardown(s.env, domainsBefore);
        return nth - 1;
      }
      if (rc !== 0) expect([profile, nth, snapshot(s.env)]).toEqual([profile, nth, before]);
      teardown(s.env, domainsBefore);
    } finally {
      releaseEnv(s.env);
    }
  }
  throw new Error('sweep did not converge');
}

/** An IOAS with one 8-page area (inside the mock aperture), so attaching pins and maps. */
function withArea(env: Env): number {
  const ioas = ioasAlloc(env);
  expect(map(env, ioas, buffer(env, 8 * 4096), 8n * 4096n, 1n << 24n).errno).toBe(0);
  return ioas;
}

describe('fail_nth sweeps', () => {
  check('ref.fail_nth.attach', () => {
    const steps = sweep((profile) => {
      const env = newEnv(profile);
      const ioas = withArea(env);
      return { env, run: () => mockDomain(env, ioas).errno };
    });
    expect(steps).toBeGreaterThan(3);
  });

  check('ref.fail_nth.vfio-attach-group', () => {
    const steps = sweep((profile) => {
      const env = newEnv(profile);
      const m = machine(env);
      const c1 = m.deviceCreate({ iommu: 'vtd0' });
      if (!c1.ok) throw new Error('create');
      const c2 = m.deviceCreate({ iommu: 'vtd0', group: c1.group, reservedRegions: [{ start: 0x100000n, last: 0x1fffffn }] });
      if (!c2.ok) throw new Error('create');
      const fd1 = openDev(env, c1.device);
      const fd2 = openDev(env, c2.device);
      expect(vfioBind(env, fd1, env.fd).errno).toBe(0);
      expect(vfioBind(env, fd2, env.fd).errno).toBe(0);
      const ioas = withArea(env);
      expect(vfioAttach(env, fd1, ioas).errno).toBe(0);
      return { env, run: () => vfioAttach(env, fd2, ioas).errno };
    });
    expect(steps).toBeGreaterThan(1);
  });

  check('ref.fail_nth.replace', () => {
    const steps = sweep((profile) => {
      const env = newEnv(profile);
      const ioas = withArea(env);
      const md = mockDomain(env, ioas);
      expect(md.errno).toBe(0);
      const ioas2 = withArea(env);
      return { env, run: () => mockReplace(env, md.stdev, ioas2).errno };
    });
    expect(steps).toBeGreaterThan(3);
  });

  check('ref.fail_nth.vfio-replace-group', () => {
    sweep((profile) => {
      const env = newEnv(profile);
      const m = machine(env);
      const c1 = m.deviceCreate({ iommu: 'smmu0' });
      if (!c1.ok) throw new Error('create');
      const c2 = m.deviceCreate({ iommu: 'smmu0', group: c1.group });
      if (!c2.ok) throw new Error('create');
      const fd1 = openDev(env, c1.device);
      const fd2 = openDev(env, c2.device);
      vfioBind(env, fd1, env.fd);
      vfioBind(env, fd2, env.fd);
      const ioas = withArea(env);
      vfioAttach(env, fd1, ioas);
      vfioAttach(env, fd2, ioas);
      const ioas2 = withArea(env);
      return { env, run: () => vfioAttach(env, fd2, ioas2).errno };
    });
  });

  check('ref.fail_nth.hwpt-alloc', () => {
    const steps = sweep((profile) => {
      const env = newEnv(profile);
      const ioas = withArea(env);
      const d = boundDevice(env, { iommu: 'vtd0' });
      return { env, run: () => hwptAlloc(env, { dev_id: d.devid, pt_id: ioas, flags: 3 }).errno };
    });
    expect(steps).toBeGreaterThan(3);
  });

  check('ref.fail_nth.vfio-bind', () => {
    sweep((profile) => {
      const env = newEnv(profile);
      const c = machine(env).deviceCreate({ iommu: 'amd0' });
      if (!c.ok) throw new Error('create');
      const fd = openDev(env, c.device);
      return { env, run: () => vfioBind(env, fd, env.fd).errno };
    });
  });
});
