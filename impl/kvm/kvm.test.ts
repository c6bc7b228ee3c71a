/**
 * kvm-vfio (virt/kvm/vfio.c): file references held while registered, and the
 * non-coherent-DMA answer re-derived on add, delete and release (seed 002).
 */
import { describe, expect, it } from 'vitest';
import { check } from '../../spec/clauses/check.ts';
import { newEnv, ioasAlloc } from '../testing/testutil.ts';
import { boundDevice, destroy, machine, openDev, vfioAttach } from '../testing/devtestutil.ts';
import { kvmCreate, kvmDestroy, kvmExists, kvmState, kvmVfioAdd, kvmVfioDel } from './index.ts';
import { deviceRemove } from '../platform/index.ts';
import { EBADF, EEXIST, EINVAL, ENOENT } from '../lib/errno.ts';
import { ERRNO } from '../../spec/uapi/errno.ts';

describe('kvm-vfio', () => {
  check('ref.kvm.noncoherent-rederived', () => {
    const env = newEnv('6.12');
    const vm = kvmCreate(env.proc);
    const cc = boundDevice(env, { iommu: 'vtd0' });
    const nc = boundDevice(env, { iommu: 'smmu0' });
    expect(kvmState(env.proc, vm)).toEqual({ noncoherentDma: false, registeredFds: [] });
    expect(kvmVfioAdd(env.proc, vm, cc.fd)).toBe(0);
    expect(kvmState(env.proc, vm)!.noncoherentDma).toBe(false);
    expect(kvmVfioAdd(env.proc, vm, nc.fd)).toBe(0);
    expect(kvmState(env.proc, vm)).toEqual({ noncoherentDma: true, registeredFds: [cc.fd, nc.fd] });
    expect(kvmVfioDel(env.proc, vm, nc.fd)).toBe(0);
    expect(kvmState(env.proc, vm)!.noncoherentDma).toBe(false);
    // re-derived on release too
    expect(kvmVfioAdd(env.proc, vm, nc.fd)).toBe(0);
    expect(kvmState(env.proc, vm)!.noncoherentDma).toBe(true);
    expect(kvmDestroy(env.proc, vm)).toBe(0);
    expect(kvmExists(env.proc, vm)).toBe(false);
  });

  check('ref.kvm.coherency-matrix', () => {
    // Boxes of seed 002: the answer follows the IOMMU's ability to enforce
    // (not the device's no-snoop use, not the domain it is attached to).
    const env = newEnv('6.12');
    const cases: [Parameters<typeof boundDevice>[1], boolean][] = [
      [{ iommu: 'vtd0', noSnoop: true }, false], // box 1
      [{ iommu: 'vtd0', noSnoop: false }, false], // box 2
      [{ iommu: 'smmu0', noSnoop: true }, true], // box 3
      [{ iommu: 'smmu0', noSnoop: false }, true], // box 4 (no crystal ball)
      [{ iommu: 'amd0' }, false],
      [{ iommu: 'vtd1' }, true],
      [{ iommu: 'smmu0', enforceCacheCoherency: true }, false], // CANWBS
      [{ iommu: 'mock' }, true], // the selftest mock cannot enforce
    ];
    for (const [spec, noncoherent] of cases) {
      const vm = kvmCreate(env.proc);
      const d = boundDevice(env, spec);
      expect(kvmVfioAdd(env.proc, vm, d.fd)).toBe(0);
      expect([spec, kvmState(env.proc, vm)!.noncoherentDma]).toEqual([spec, noncoherent]);
      // attaching to a coherent/non-coherent domain does not change the answer
      const ioas = ioasAlloc(env);
      expect(vfioAttach(env, d.fd, ioas).errno).toBe(0);
      expect(kvmState(env.proc, vm)!.noncoherentDma).toBe(noncoherent);
      kvmDestroy(env.proc, vm);
    }
  });

  check('ref.kvm.holds-device-file', () => {
    const env = newEnv('6.12');
    const vm = kvmCreate(env.proc);
    const d = boundDevice(env, { iommu: 'smmu0' });
    expect(kvmVfioAdd(env.proc, vm, d.fd)).toBe(0);
    expect(env.proc.fds.close(d.fd)).toBe(0);
    // the file is still referenced: the device stays bound and cannot be removed
    expect(destroy(env, d.devid)).toBe(ERRNO.EBUSY); // EBUSY, not ENOENT
    expect(deviceRemove(env.proc, env.profile, d.device).ok).toBe(false);
    expect(kvmState(env.proc, vm)!.noncoherentDma).toBe(true);
    // releasing the VM drops the last reference: unbind, then removable
    expect(kvmDestroy(env.proc, vm)).toBe(0);
    expect(destroy(env, d.devid)).toBe(ENOENT);
    expect(deviceRemove(env.proc, env.profile, d.device).ok).toBe(true);
  });

  check('ref.kvm.errno', () => {
    const env = newEnv('6.12');
    const vm = kvmCreate(env.proc);
    const c = machine(env).deviceCreate({ iommu: 'vtd0' });
    if (!c.ok) throw new Error('create');
    const fd = openDev(env, c.device); // an unbound device file is a valid VFIO file
    expect(kvmVfioAdd(env.proc, vm, 99)).toBe(-EBADF);
    expect(kvmVfioAdd(env.proc, vm, env.fd)).toBe(-EINVAL); // an iommufd is not a VFIO file
    expect(kvmVfioAdd(env.proc, vm, fd)).toBe(0);
    expect(kvmVfioAdd(env.proc, vm, fd)).toBe(-EEXIST);
    expect(kvmVfioDel(env.proc, vm, 99)).toBe(-EBADF);
    expect(kvmVfioDel(env.proc, vm, env.fd)).toBe(-ENOENT);
    expect(kvmVfioDel(env.proc, vm, fd)).toBe(0);
    expect(kvmVfioDel(env.proc, vm, fd)).toBe(-ENOENT);
  });

  it('a VM per process, ids from 1, reused after destroy', () => {
    const env = newEnv('6.12');
    expect(kvmCreate(env.proc)).toBe(1);
    expect(kvmCreate(env.proc)).toBe(2);
    kvmDestroy(env.proc, 1);
    expect(kvmCreate(env.proc)).toBe(1);
    expect(kvmDestroy(env.proc, 9)).toBe(-ENOENT);
  });
});
