/**
 * The simulated machine: instance catalogue, device placement, DMA ownership.
 */
import { describe, expect } from 'vitest';
import { check } from '../../spec/clauses/check.ts';
import { Process } from '../process/index.ts';
import { HwPhysMemory } from './hw.ts';
import { iommufdFopsOpen } from '../iommufd/main.ts';
import { ioasAlloc, map } from '../testing/testutil.ts';
import { boundDevice, vfioAttach } from '../testing/devtestutil.ts';
import { machineFor } from './index.ts';
import { EBUSY, EPERM } from '../lib/errno.ts';

describe('platform', () => {
  check('ref.platform.instances', () => {
    for (const profile of ['6.12', '7.3'] as const) {
      const m = machineFor(new Process(new HwPhysMemory({ size: 16 * 1024 * 1024 })), profile);
      const info = new Map(m.instanceInfo().map((i) => [i.name, i]));
      expect([...info.keys()].sort()).toEqual(['amd0', 'mock', 'smmu0', 'vtd0', 'vtd1', 'vtd2']);
      const mock = info.get('mock')!;
      // selftest.c: 2 KiB IO pages, aperture [1<<24, (1<<31)-1], never enforces coherency
      expect(mock.apertureStart).toBe(1n << 24n);
      expect(mock.apertureLast).toBe((1n << 31n) - 1n);
      expect(mock.pgsizeBitmap & -mock.pgsizeBitmap).toBe(2048n);
      expect(mock.enforceCacheCoherency).toBe(false);
      expect(mock.maxPasidLog2).toBe(profile === '7.3' ? 20 : 0);
      expect(info.get('vtd0')).toMatchObject({ format: 'vtd-ss', enforceCacheCoherency: true, dirtyTracking: true, apertureLast: (1n << 48n) - 1n });
      expect(info.get('vtd0')!.pgsizeBitmap).toBe((1n << 12n) | (1n << 21n) | (1n << 30n));
      expect(info.get('vtd1')).toMatchObject({ enforceCacheCoherency: false, apertureLast: (1n << 39n) - 1n });
      expect(info.get('smmu0')).toMatchObject({ format: 'arm-s1-4k', enforceCacheCoherency: false });
      expect(info.get('amd0')).toMatchObject({ format: 'amd-v1', enforceCacheCoherency: true });
    }
  });

  check('ref.platform.dma-ownership', () => {
    const m = machineFor(new Process(new HwPhysMemory({ size: 16 * 1024 * 1024 })), '6.12');
    const a = m.deviceCreate({ iommu: 'vtd0' });
    if (!a.ok) throw new Error(a.message);
    const b = m.deviceCreate({ iommu: 'vtd0', group: a.group });
    if (!b.ok) throw new Error(b.message);
    expect(b.group).toBe(a.group);
    const devA = m.device(a.device)!;
    const devB = m.device(b.device)!;
    const ctx1 = {};
    const ctx2 = {};
    expect(m.claimDmaOwner(devA, ctx1)).toBe(0);
    expect(m.group(a.group)!.domain.type).toBe('blocked');
    expect(m.claimDmaOwner(devB, ctx2)).toBe(-EPERM);
    expect(m.claimDmaOwner(devB, ctx1)).toBe(0);
    m.releaseDmaOwner(devA);
    expect(m.claimDmaOwner(devB, ctx2)).toBe(-EPERM); // still owned through devB
    m.releaseDmaOwner(devB);
    expect(m.claimDmaOwner(devB, ctx2)).toBe(0);
    // a group attached to a domain other than its default cannot change owner
    m.releaseDmaOwner(devB);
    const g = m.group(a.group)!;
    g.domain = g.blockingDomain;
    expect(m.claimDmaOwner(devA, ctx1)).toBe(-EBUSY);
  });

  check('ref.platform.device-spec-validation', () => {
    const m = machineFor(new Process(new HwPhysMemory({ size: 16 * 1024 * 1024 })), '7.3');
    expect(m.deviceCreate({ iommu: 'nope' })).toMatchObject({ ok: false, field: 'spec.iommu' });
    expect(m.deviceCreate({ iommu: 'mock', hugeIova: true })).toMatchObject({ ok: false, field: 'spec.hugeIova' });
    expect(m.deviceCreate({ iommu: 'amd0', dirtyTracking: true })).toMatchObject({ ok: false, field: 'spec.dirtyTracking' });
    expect(m.deviceCreate({ iommu: 'vtd1', pasidWidth: 5 })).toMatchObject({ ok: false, field: 'spec.pasidWidth' });
    expect(m.deviceCreate({ iommu: 'vtd0', reservedRegions: [{ start: 5n, last: 4n }] })).toMatchObject({ ok: false, field: 'spec.reservedRegions.0' });
    expect(m.deviceCreate({ iommu: 'mock', pasidWidth: 20 })).toMatchObject({ ok: true });
    expect(m.deviceCreate({ iommu: 'vtd1', enforceCacheCoherency: true })).toMatchObject({ ok: false, field: 'spec.enforceCacheCoherency' });
    expect(m.deviceCreate({ iommu: 'smmu0', enforceCacheCoherency: true })).toMatchObject({ ok: true }); // a CANWBS master
    expect(m.deviceCreate({ iommu: 'vtd0', enforceCacheCoherency: false })).toMatchObject({ ok: true });
  });

  check('ref.platform.shared-memory', () => {
    // User pages and page tables in one machine memory: DMA still lands on the user's pages.
    const mem = new HwPhysMemory({ size: 16 * 1024 * 1024 });
    const proc = new Process(mem);
    proc.rlimitMemlock = null;
    const m = machineFor(proc, '6.12');
    const { ctx, file } = iommufdFopsOpen(proc, m, '6.12');
    const env = { proc, ctx, file, fd: proc.fds.install(file), profile: '6.12' as const, scratch: proc.mmap(65536)! };
    const buf = proc.mmap(8192)!;
    proc.copyToUser(buf, new Uint8Array([5, 6, 7, 8]));
    const ioas = ioasAlloc(env);
    const r = map(env, ioas, buf, 8192n);
    const d = boundDevice(env, { iommu: 'vtd0' });
    expect(vfioAttach(env, d.fd, ioas).errno).toBe(0);
    expect(mem.tablePages).toBeGreaterThan(0);
    expect(Array.from(m.dma(d.device, r.iova, 'read', undefined, 4)!.data!)).toEqual([5, 6, 7, 8]);
    proc.fds.closeAll();
    expect(mem.tablePages).toBe(0);
  });
});
