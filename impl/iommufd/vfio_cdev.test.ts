/**
 * The VFIO device file: BIND_IOMMUFD / ATTACH / DETACH argsz, flags and errno
 * rules (drivers/vfio/device_cdev.c, drivers/vfio/iommufd.c), close = unbind,
 * and the DMA path through the attached domain into the user's pages.
 */
import { describe, expect } from 'vitest';
import { check } from '../../spec/clauses/check.ts';
import { ioasAlloc, map, newEnv, unmap, MAP_R } from '../testing/testutil.ts';
import { boundDevice, destroy, machine, openDev, userBuffer, vfioAttach, vfioBind, vfioDetach, vfioIoctl, type Buf } from '../testing/devtestutil.ts';
import { vfioDeviceOpen } from './vfio_cdev.ts';
import { VFIO_DEVICE_ATTACH_IOMMUFD_PT, VFIO_DEVICE_BIND_IOMMUFD, VFIO_DEVICE_DETACH_IOMMUFD_PT } from '../../spec/uapi/constants.ts';
import { E2BIG, EBADF, EBADFD, EFAULT, EINVAL, ENODEV, ENOENT, ENOTTY, EOPNOTSUPP, EPERM } from '../lib/errno.ts';
import { iommufdFopsOpen } from './main.ts';
import { ERRNO } from '../../spec/uapi/errno.ts';

function device(env: ReturnType<typeof newEnv>, iommu = 'vtd0'): { device: number; fd: number } {
  const c = machine(env).deviceCreate({ iommu });
  if (!c.ok) throw new Error(c.message);
  return { device: c.device, fd: openDev(env, c.device) };
}

describe('VFIO_DEVICE_BIND_IOMMUFD', () => {
  check('ref.vfio_bind.errno-order', () => {
    const env = newEnv('6.12');
    const d = device(env);
    // other ioctls before bind
    expect(vfioAttach(env, d.fd, 1).errno).toBe(EINVAL);
    expect(vfioIoctl(env, d.fd, 0x3b6b, [16]).errno).toBe(EINVAL);
    expect(vfioBind(env, d.fd, env.fd, { arg: 0n }).errno).toBe(EFAULT);
    expect(vfioBind(env, d.fd, 99, { argsz: 15, flags: 1 }).errno).toBe(EINVAL);
    expect(vfioBind(env, d.fd, 99, { flags: 1 }).errno).toBe(EINVAL);
    expect(vfioBind(env, d.fd, -1).errno).toBe(EINVAL);
    expect(vfioBind(env, d.fd, 99).errno).toBe(EBADF);
    expect(vfioBind(env, d.fd, d.fd).errno).toBe(EBADFD);
    const ok = vfioBind(env, d.fd, env.fd, { argsz: 64 }); // 6.12 ignores a larger argsz
    expect(ok).toEqual({ errno: 0, devid: 1 });
    expect(vfioBind(env, d.fd, env.fd).errno).toBe(EINVAL); // bound twice
    // a second file of the same device cannot bind: the cdev opens once
    const fd2 = openDev(env, d.device);
    expect(vfioBind(env, fd2, env.fd).errno).toBe(EINVAL);
    expect(vfioIoctl(env, d.fd, 0x3b6b, [16]).errno).toBe(ENOTTY); // vfio-pci ioctls: not modelled
  });

  check('ref.vfio_bind.unbind-on-close', () => {
    const env = newEnv('6.12');
    const d = device(env);
    const b = vfioBind(env, d.fd, env.fd);
    const ioas = ioasAlloc(env);
    const a = vfioAttach(env, d.fd, ioas);
    expect(a.errno).toBe(0);
    expect(destroy(env, b.devid)).toBe(ERRNO.EBUSY); // EBUSY: the driver holds it
    expect(env.proc.fds.close(d.fd)).toBe(0);
    expect(destroy(env, b.devid)).toBe(ENOENT);
    expect(destroy(env, a.pt)).toBe(ENOENT); // its auto domain went with it
    // ownership released: another iommufd may bind the device now
    const { file } = iommufdFopsOpen(env.proc, machine(env), env.profile);
    const other = env.proc.fds.install(file);
    const fd2 = openDev(env, d.device);
    expect(vfioBind(env, fd2, other).errno).toBe(0);
  });

  check('ref.vfio_bind.group-owner-eperm', () => {
    const env = newEnv('6.12');
    const m = machine(env);
    const c1 = m.deviceCreate({ iommu: 'smmu0' });
    if (!c1.ok) throw new Error('create');
    const c2 = m.deviceCreate({ iommu: 'smmu0', group: c1.group });
    if (!c2.ok) throw new Error('create');
    expect(vfioBind(env, openDev(env, c1.device), env.fd).errno).toBe(0);
    const { file } = iommufdFopsOpen(env.proc, m, env.profile);
    expect(vfioBind(env, openDev(env, c2.device), env.proc.fds.install(file)).errno).toBe(EPERM);
  });

  check('ref.vfio_bind.iommufd-outlives-its-fd', () => {
    const env = newEnv('6.12');
    const d = device(env);
    const b = vfioBind(env, d.fd, env.fd);
    const ioas = ioasAlloc(env);
    expect(env.proc.fds.close(env.fd)).toBe(0);
    expect(env.ctx.objects.load(b.devid)).toBeDefined(); // the bound device holds the ctx
    expect(vfioAttach(env, d.fd, ioas).errno).toBe(0);
    expect(env.proc.fds.close(d.fd)).toBe(0);
    expect(env.ctx.objects.empty).toBe(true); // released with the last reference
  });

  check('ref.vfio_bind.rules-73', () => {
    const env = newEnv('7.3');
    const d = device(env);
    const words = (extra: number[]) => [32, 0, env.fd, 0, 0, 0, ...extra];
    expect(vfioIoctl(env, d.fd, VFIO_DEVICE_BIND_IOMMUFD, words([1, 0])).errno).toBe(E2BIG);
    expect(vfioBind(env, d.fd, env.fd, { argsz: 15 }).errno).toBe(EINVAL);
    expect(vfioBind(env, d.fd, env.fd, { flags: 2 }).errno).toBe(EINVAL);
    // TOKEN: the uuid pointer is read (EFAULT), then a PF without VFs refuses a token
    expect(vfioIoctl(env, d.fd, VFIO_DEVICE_BIND_IOMMUFD, [24, 1, env.fd, 0, 8, 0]).errno).toBe(EFAULT);
    const uuid = env.scratch + 4096n;
    expect(vfioIoctl(env, d.fd, VFIO_DEVICE_BIND_IOMMUFD, [24, 1, env.fd, 0, Number(uuid & 0xffffffffn), Number(uuid >> 32n)]).errno).toBe(EINVAL);
    expect(vfioIoctl(env, d.fd, VFIO_DEVICE_BIND_IOMMUFD, words([0, 0])).errno).toBe(0);
  });

  check('ref.vfio_open.enodev-and-removal', () => {
    const env = newEnv('6.12');
    expect(vfioDeviceOpen(env.proc, env.profile, 42).errno).toBe(-ENODEV);
    const c = machine(env).deviceCreate({ iommu: 'amd0' });
    if (!c.ok) throw new Error('create');
    const r = vfioDeviceOpen(env.proc, env.profile, c.device);
    if (!('fd' in r)) throw new Error('open');
    expect(machine(env).deviceRemove(c.device, (dev) => ((dev.vfio as { openFiles: number }).openFiles ? 'busy' : undefined)).ok).toBe(false);
    env.proc.fds.close(r.fd);
    expect(machine(env).deviceRemove(c.device, () => undefined).ok).toBe(true);
    expect(vfioDeviceOpen(env.proc, env.profile, c.device).errno).toBe(-ENODEV);
  });
});

describe('VFIO_DEVICE_ATTACH_IOMMUFD_PT / DETACH', () => {
  check('ref.vfio_attach.errno-order', () => {
    const env = newEnv('6.12');
    const d = boundDevice(env, { iommu: 'vtd0' });
    const ioas = ioasAlloc(env);
    expect(vfioAttach(env, d.fd, ioas, { arg: 0n }).errno).toBe(EFAULT);
    expect(vfioAttach(env, d.fd, 99, { argsz: 11, flags: 1 }).errno).toBe(EINVAL);
    expect(vfioAttach(env, d.fd, 99, { flags: 1 }).errno).toBe(EINVAL);
    expect(vfioAttach(env, d.fd, 99).errno).toBe(ENOENT);
    expect(vfioAttach(env, d.fd, d.devid).errno).toBe(EINVAL);
    const a = vfioAttach(env, d.fd, ioas);
    expect(a.errno).toBe(0);
    expect(a.pt).not.toBe(ioas);
    // attaching again replaces (same auto domain: no-op)
    expect(vfioAttach(env, d.fd, ioas)).toEqual({ errno: 0, pt: a.pt });
    expect(vfioDetach(env, d.fd, { arg: 0n })).toBe(EFAULT);
    expect(vfioDetach(env, d.fd, { argsz: 7 })).toBe(EINVAL);
    expect(vfioDetach(env, d.fd, { flags: 1 })).toBe(EINVAL);
    expect(vfioDetach(env, d.fd)).toBe(0);
    expect(destroy(env, a.pt)).toBe(ENOENT);
    expect(vfioDetach(env, d.fd)).toBe(0);
  });

  check('ref.vfio_attach.efault-detaches', () => {
    const env = newEnv('6.12');
    const d = boundDevice(env, { iommu: 'vtd0' });
    const ioas = ioasAlloc(env);
    const ro = env.proc.mmap(4096)!;
    const b = new Uint8Array(12);
    const v = new DataView(b.buffer);
    v.setUint32(0, 12, true);
    v.setUint32(8, ioas, true);
    env.proc.copyToUser(ro, b);
    env.proc.mprotect(ro, 4096, { read: true, write: false });
    expect(vfioAttach(env, d.fd, 0, { arg: ro }).errno).toBe(EFAULT);
    // the attach was undone: the group is blocked and no HWPT is left
    expect(machine(env).group(d.group)!.domain.type).toBe('blocked');
    expect(env.ctx.objects.entries().map(([, o]) => o.type)).toEqual(['DEVICE', 'IOAS']);
  });

  check('ref.vfio_attach.pasid-refused-73', () => {
    const env = newEnv('7.3');
    const d = boundDevice(env, { iommu: 'vtd0', pasidWidth: 20 });
    const ioas = ioasAlloc(env);
    expect(vfioIoctl(env, d.fd, VFIO_DEVICE_ATTACH_IOMMUFD_PT, [16, 1, ioas, 5]).errno).toBe(EOPNOTSUPP);
    expect(vfioIoctl(env, d.fd, VFIO_DEVICE_ATTACH_IOMMUFD_PT, [16, 2, ioas, 5]).errno).toBe(EINVAL);
    expect(vfioIoctl(env, d.fd, VFIO_DEVICE_DETACH_IOMMUFD_PT, [12, 1, 5]).errno).toBe(EOPNOTSUPP);
    expect(vfioIoctl(env, d.fd, VFIO_DEVICE_DETACH_IOMMUFD_PT, [12, 2, 5]).errno).toBe(EINVAL);
    expect(vfioAttach(env, d.fd, ioas).errno).toBe(0);
  });
});

describe('DMA through the IOMMU', () => {
  function setup(iommu = 'vtd0') {
    const env = newEnv('6.12');
    const bufs: Buf[] = [];
    const buf = userBuffer(env, 3 * 4096, bufs);
    const pattern = Uint8Array.from({ length: 3 * 4096 }, (_, i) => (i * 7) & 0xff);
    env.proc.copyToUser(buf.va, pattern);
    const ioas = ioasAlloc(env);
    const m = map(env, ioas, buf.va, 3n * 4096n);
    const d = boundDevice(env, { iommu });
    return { env, bufs, buf, pattern, ioas, iova: m.iova, d };
  }

  check('ref.dma.lands-on-user-pages', () => {
    const { env, buf, pattern, ioas, iova, d } = setup();
    expect(vfioAttach(env, d.fd, ioas).errno).toBe(0);
    const mc = machine(env);
    const r = mc.dma(d.device, iova + 10n, 'read', undefined, 100);
    expect(r?.ok).toBe(true);
    expect(Array.from(r!.data!)).toEqual(Array.from(pattern.subarray(10, 110)));
    expect(r!.touched).toEqual([{ buffer: buf.id, offset: 10, length: 100 }]);
    const data = new Uint8Array(5000).fill(0x5a);
    const w = mc.dma(d.device, iova + 4000n, 'write', data, 0);
    expect(w?.ok).toBe(true);
    expect(w!.touched).toEqual([{ buffer: buf.id, offset: 4000, length: 5000 }]);
    expect(Array.from(env.proc.copyFromUser(buf.va + 4000n, 5000)!)).toEqual(Array.from(data));
    expect(mc.translate(d.device, iova + 4096n)).toEqual({ mapped: true, buffer: buf.id, offset: 4096, read: true, write: true });
  });

  check('ref.dma.faults', () => {
    const { env, ioas, iova, d, buf } = setup();
    const mc = machine(env);
    // bound but never attached: blocked
    expect(mc.dma(d.device, iova, 'read', undefined, 8)).toEqual({ ok: false, fault: 'blocked' });
    expect(vfioAttach(env, d.fd, ioas).errno).toBe(0);
    expect(mc.dma(d.device, iova + 3n * 4096n, 'read', undefined, 8)).toEqual({ ok: false, fault: 'unmapped' });
    // a read-only mapping refuses device writes, and nothing is written
    const ro = map(env, ioas, buf.va, 4096n, undefined, MAP_R);
    const before = env.proc.copyFromUser(buf.va, 16)!;
    expect(mc.dma(d.device, ro.iova, 'write', new Uint8Array(16), 0)).toEqual({ ok: false, fault: 'permission' });
    expect(env.proc.copyFromUser(buf.va, 16)).toEqual(before);
    expect(vfioDetach(env, d.fd)).toBe(0);
    expect(mc.dma(d.device, iova, 'read', undefined, 8)).toEqual({ ok: false, fault: 'blocked' });
    expect(mc.translate(d.device, iova)).toEqual({ mapped: false });
  });

  check('ref.dma.iotlb-invalidated-on-unmap', () => {
    const { env, ioas, iova, d } = setup();
    expect(vfioAttach(env, d.fd, ioas).errno).toBe(0);
    const mc = machine(env);
    expect(mc.dma(d.device, iova, 'read', undefined, 4)?.ok).toBe(true);
    const cached = mc.iotlb('vtd0')!;
    expect(cached.length).toBe(1);
    expect(cached[0]!.iova).toBe(iova);
    expect(unmap(env, ioas, iova, 3n * 4096n).errno).toBe(0);
    expect(mc.iotlb('vtd0')).toEqual([]);
    expect(mc.dma(d.device, iova, 'read', undefined, 4)).toEqual({ ok: false, fault: 'unmapped' });
    expect(mc.iotlb('nope')).toBeUndefined();
  });

  check('ref.dma.isolation', () => {
    const { env, ioas, iova, d } = setup();
    expect(vfioAttach(env, d.fd, ioas).errno).toBe(0);
    const other = boundDevice(env, { iommu: 'vtd0' });
    const ioas2 = ioasAlloc(env);
    expect(vfioAttach(env, other.fd, ioas2).errno).toBe(0);
    expect(machine(env).dma(other.device, iova, 'read', undefined, 8)).toEqual({ ok: false, fault: 'unmapped' });
  });
});
