import { describe, expect } from 'vitest';
import { check } from '../../spec/clauses/check.ts';
import { openAdapter } from './open.ts';
import type { Adapter, Response } from '../../spec/contract/types.ts';
import { ERRNO } from '../../spec/uapi/errno.ts';

async function call<T>(a: Adapter, req: Parameters<Adapter['call']>[0]): Promise<T> {
  const r = (await a.call(req)) as Response;
  if (!r.ok) throw new Error(`${req.op}: ${r.error.message} (${r.error.field})`);
  return r.result as T;
}

describe('the reference behind the adapter contract', () => {
  check('ref.adapter.open-and-map', async () => {
    const a = await openAdapter('ref', { profile: '6.12', validateInProcess: true });
    const caps = await call<{ commands: Record<string, { supported: boolean }> }>(a, { op: 'capabilities' });
    expect(caps.commands.IOMMU_IOAS_MAP!.supported).toBe(true);
    const { fd } = await call<{ fd: number }>(a, { op: 'open', node: 'iommu' });
    const alloc = await call<{ errno: number; out: { out_ioas_id: number } }>(a, { op: 'ioctl', fd, cmd: 'IOMMU_IOAS_ALLOC', arg: { kind: 'struct', fields: {} } });
    expect(alloc.errno).toBe(0);
    expect(alloc.out.out_ioas_id).toBe(1);
    const buf = await call<{ buffer: number; va: bigint }>(a, { op: 'mem_alloc', length: 16384, hugeAligned: true });
    const m = await call<{ errno: number; out: { iova: bigint } }>(a, {
      op: 'ioctl',
      fd,
      cmd: 'IOMMU_IOAS_MAP',
      arg: { kind: 'struct', fields: { ioas_id: 1, flags: 6, user_va: buf.va, length: 16384n } },
    });
    expect(m.errno).toBe(0);
    expect(m.out.iova).toBe(0x4000n);
    // IOVA_RANGES with a room pointer.
    const r = await call<{ errno: number; out: { num_iovas: number }; buffers: Record<string, Uint8Array> }>(a, {
      op: 'ioctl',
      fd,
      cmd: 'IOMMU_IOAS_IOVA_RANGES',
      arg: { kind: 'struct', fields: { ioas_id: 1, num_iovas: 1, allowed_iovas: { room: 16 } } },
    });
    expect(r.errno).toBe(0);
    expect(r.out.num_iovas).toBe(1);
    expect(r.buffers.allowed_iovas!.length).toBe(16);
    // A null argument is EFAULT; an unknown command name is a protocol error naming cmd.
    expect((await call<{ errno: number }>(a, { op: 'ioctl', fd, cmd: 'IOMMU_DESTROY', arg: { kind: 'null' } })).errno).toBe(ERRNO.EFAULT);
    const unknown = await a.call({ op: 'ioctl', fd, cmd: 'IOMMU_NOPE', arg: { kind: 'null' } });
    expect(unknown.ok).toBe(false);
    if (!unknown.ok) expect(unknown.error.field).toBe('cmd');
    await a.close();
  });
  check('ref.adapter.fail-nth', async () => {
    const a = await openAdapter('ref', { profile: '6.12' });
    const { fd } = await call<{ fd: number }>(a, { op: 'open', node: 'iommu' });
    await call(a, { op: 'fail_nth', nth: 1 });
    expect((await call<{ errno: number }>(a, { op: 'ioctl', fd, cmd: 'IOMMU_IOAS_ALLOC', arg: { kind: 'struct', fields: {} } })).errno).toBe(ERRNO.ENOMEM);
    // One-shot: the next ioctl runs clean.
    expect((await call<{ errno: number }>(a, { op: 'ioctl', fd, cmd: 'IOMMU_IOAS_ALLOC', arg: { kind: 'struct', fields: {} } })).errno).toBe(0);
    await a.close();
  });
});

describe('end to end: a VFIO device DMAs into pinned user pages through the reference', () => {
  check('ref.adapter.dma-lands-in-user-pages-6.12', () => dmaScenario('6.12'));
  check('ref.adapter.dma-lands-in-user-pages-7.3', () => dmaScenario('7.3'));
});

async function dmaScenario(profile: '6.12' | '7.3'): Promise<void> {
  const a = await openAdapter('ref', { profile, validateInProcess: true });
  const { fd } = await call<{ fd: number }>(a, { op: 'open', node: 'iommu' });
  const ioas = (await call<{ out: { out_ioas_id: number } }>(a, { op: 'ioctl', fd, cmd: 'IOMMU_IOAS_ALLOC', arg: { kind: 'struct', fields: {} } })).out.out_ioas_id;
  const { device } = await call<{ device: number }>(a, { op: 'device_create', spec: { iommu: 'vtd0' } });
  const dev = await call<{ fd: number }>(a, { op: 'open_device', device });
  const bind = await call<{ errno: number; out: { out_devid: number } }>(a, {
    op: 'ioctl',
    fd: dev.fd,
    cmd: 'VFIO_DEVICE_BIND_IOMMUFD',
    arg: { kind: 'struct', fields: { iommufd: fd } },
  });
  expect(bind.errno).toBe(0);
  const att = await call<{ errno: number }>(a, { op: 'ioctl', fd: dev.fd, cmd: 'VFIO_DEVICE_ATTACH_IOMMUFD_PT', arg: { kind: 'struct', fields: { pt_id: ioas } } });
  expect(att.errno).toBe(0);
  const buf = await call<{ buffer: number; va: bigint }>(a, { op: 'mem_alloc', length: 8192 });
  await call(a, { op: 'mem_write', buffer: buf.buffer, offset: 4096, data: new Uint8Array([1, 2, 3, 4]) });
  const m = await call<{ errno: number; out: { iova: bigint } }>(a, {
    op: 'ioctl',
    fd,
    cmd: 'IOMMU_IOAS_MAP',
    arg: { kind: 'struct', fields: { ioas_id: ioas, flags: 7, user_va: buf.va, length: 8192n, iova: 0x100000n } },
  });
  expect(m.errno).toBe(0);
  expect((await call<{ pins: number[] }>(a, { op: 'pin_count', buffer: buf.buffer, offset: 0, length: 8192 })).pins).toEqual([1, 1]);
  const rd = await call<{ ok: boolean; data: Uint8Array; touched: { buffer: number; offset: number }[] }>(a, { op: 'dma', device, iova: 0x101000n, dir: 'read', length: 4 });
  expect(rd.ok).toBe(true);
  expect([...rd.data]).toEqual([1, 2, 3, 4]);
  expect(rd.touched[0]).toMatchObject({ buffer: buf.buffer, offset: 4096 });
  const wr = await call<{ ok: boolean }>(a, { op: 'dma', device, iova: 0x100010n, dir: 'write', data: new Uint8Array([9, 9]) });
  expect(wr.ok).toBe(true);
  expect([...(await call<{ data: Uint8Array }>(a, { op: 'mem_read', buffer: buf.buffer, offset: 16, length: 2 })).data]).toEqual([9, 9]);
  // After UNMAP nothing is reachable and nothing is pinned.
  const un = await call<{ errno: number }>(a, { op: 'ioctl', fd, cmd: 'IOMMU_IOAS_UNMAP', arg: { kind: 'struct', fields: { ioas_id: ioas, iova: 0x100000n, length: 8192n } } });
  expect(un.errno).toBe(0);
  const after = await call<{ ok: boolean; fault?: string }>(a, { op: 'dma', device, iova: 0x101000n, dir: 'read', length: 4 });
  expect(after.ok).toBe(false);
  expect((await call<{ pins: number[] }>(a, { op: 'pin_count', buffer: buf.buffer, offset: 0, length: 8192 })).pins).toEqual([0, 0]);
  await call(a, { op: 'close', fd: dev.fd });
  await call(a, { op: 'close', fd });
  expect((await call<{ pinnedVmPages: number }>(a, { op: 'process_info' })).pinnedVmPages).toBe(0);
  await a.close();
}

describe('VFIO_DMA_CC_IOMMU over real devices', () => {
  check('ref.adapter.dma-cc-iommu-follows-domains', async () => {
    const a = await openAdapter('ref', { profile: '6.12', validateInProcess: true });
    const { fd } = await call<{ fd: number }>(a, { op: 'open', node: 'vfio' });
    const ioas = (await call<{ out: { out_ioas_id: number } }>(a, { op: 'ioctl', fd, cmd: 'IOMMU_IOAS_ALLOC', arg: { kind: 'struct', fields: {} } })).out.out_ioas_id;
    expect((await call<{ errno: number }>(a, { op: 'ioctl', fd, cmd: 'IOMMU_VFIO_IOAS', arg: { kind: 'struct', fields: { ioas_id: ioas, op: 1 } } })).errno).toBe(0);
    const cc = async () => (await call<{ ret: number; errno: number }>(a, { op: 'ioctl', fd, cmd: 'VFIO_CHECK_EXTENSION', arg: { kind: 'int', value: 4n } })).ret;
    expect(await cc()).toBe(1); // no paging HWPT yet
    const attach = async (iommu: string) => {
      const { device } = await call<{ device: number }>(a, { op: 'device_create', spec: { iommu } });
      const dev = await call<{ fd: number }>(a, { op: 'open_device', device });
      expect((await call<{ errno: number }>(a, { op: 'ioctl', fd: dev.fd, cmd: 'VFIO_DEVICE_BIND_IOMMUFD', arg: { kind: 'struct', fields: { iommufd: fd } } })).errno).toBe(0);
      expect((await call<{ errno: number }>(a, { op: 'ioctl', fd: dev.fd, cmd: 'VFIO_DEVICE_ATTACH_IOMMUFD_PT', arg: { kind: 'struct', fields: { pt_id: ioas } } })).errno).toBe(0);
      return dev.fd;
    };
    const coherent = await attach('vtd0');
    expect(await cc()).toBe(1); // the VT-d domain enforces coherency
    const noncoherent = await attach('smmu0');
    expect(await cc()).toBe(0); // the SMMU domain cannot
    await call(a, { op: 'close', fd: noncoherent });
    expect(await cc()).toBe(1); // its auto domain went away with the device
    await call(a, { op: 'close', fd: coherent });
    await a.close();
  });
});
