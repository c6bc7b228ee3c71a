/**
 * After munmap, a frame belongs to whichever buffer the kernel says it does:
 * an unpinned frame is freed and a later mmap gets it back zero-filled
 * (mm/memory.c do_anonymous_page), so observations name the new buffer; a
 * pinned one stays alive and reachable by DMA through the IOAS until
 * IOAS_UNMAP unpins it (drivers/iommu/iommufd/pages.c batch_unpin), still
 * the old buffer's page. Regression: the reverse map used to name the first
 * buffer ever populated with a frame, so a reused frame was reported as the
 * unmapped buffer's.
 */
import { describe, expect } from 'vitest';
import { check } from '../../spec/clauses/check.ts';
import { createReferenceAdapter } from './adapter.ts';
import type { SingleRequest } from '../../spec/contract/types.ts';

type Impl = ReturnType<typeof createReferenceAdapter>;

async function call<T = Record<string, unknown>>(impl: Impl, req: SingleRequest): Promise<T> {
  const r = await impl.handle(req);
  if (!r.ok) throw new Error(`${req.op}: ${r.error.message}`);
  return r.result as T;
}

/** An iommufd with one IOAS and a vtd0 device attached to it. */
async function attached(impl: Impl): Promise<{ iommufd: number; ioas: number; device: number }> {
  const { fd: iommufd } = await call<{ fd: number }>(impl, { op: 'open', node: 'iommu' });
  const { device } = await call<{ device: number }>(impl, { op: 'device_create', spec: { iommu: 'vtd0' } });
  const { fd: devFd } = await call<{ fd: number }>(impl, { op: 'open_device', device });
  expect((await call<{ errno: number }>(impl, { op: 'ioctl', fd: devFd, cmd: 'VFIO_DEVICE_BIND_IOMMUFD', arg: { kind: 'struct', fields: { iommufd } } })).errno).toBe(0);
  const ioas = (await call<{ out: { out_ioas_id: number } }>(impl, { op: 'ioctl', fd: iommufd, cmd: 'IOMMU_IOAS_ALLOC', arg: { kind: 'struct', fields: {} } })).out.out_ioas_id;
  expect((await call<{ errno: number }>(impl, { op: 'ioctl', fd: devFd, cmd: 'VFIO_DEVICE_ATTACH_IOMMUFD_PT', arg: { kind: 'struct', fields: { pt_id: ioas } } })).errno).toBe(0);
  return { iommufd, ioas, device };
}

async function map(impl: Impl, iommufd: number, ioas: number, va: bigint, iova: bigint): Promise<void> {
  const r = await call<{ errno: number }>(impl, {
    op: 'ioctl',
    fd: iommufd,
    cmd: 'IOMMU_IOAS_MAP',
    arg: { kind: 'struct', fields: { ioas_id: ioas, flags: 1 | 2 | 4, user_va: va, length: 4096n, iova } }, // FIXED_IOVA | WRITEABLE | READABLE
  });
  expect(r.errno).toBe(0);
}

describe('frames after munmap', () => {
  check('ref.mem.unmap-frees-unpinned-frames-for-reuse', async () => {
    for (const profile of ['6.12', '7.3'] as const) {
      const impl = createReferenceAdapter(profile);
      const { iommufd, ioas, device } = await attached(impl);
      const a = await call<{ buffer: number; va: bigint }>(impl, { op: 'mem_alloc', length: 4096 });
      await call(impl, { op: 'mem_write', buffer: a.buffer, offset: 0, data: new Uint8Array([0xaa, 0xbb]) });
      await call(impl, { op: 'mem_unmap', buffer: a.buffer, offset: 0, length: 4096 });
      // A's frame was never pinned: munmap freed it, and B is populated from the free list.
      const b = await call<{ buffer: number; va: bigint }>(impl, { op: 'mem_alloc', length: 4096 });
      await map(impl, iommufd, ioas, b.va, 0x100000n);
      expect(await call(impl, { op: 'translate', device, iova: 0x100010n })).toMatchObject({ mapped: true, buffer: b.buffer, offset: 0x10 });
      const rd = await call<{ ok: boolean; data: Uint8Array; touched: unknown[] }>(impl, { op: 'dma', device, iova: 0x100000n, dir: 'read', length: 2 });
      expect(rd.ok).toBe(true);
      expect([...rd.data]).toEqual([0, 0]); // fresh zeroed page, not A's bytes
      expect(rd.touched).toEqual([{ buffer: b.buffer, offset: 0, length: 2 }]);
      expect((await call<{ pins: number[] }>(impl, { op: 'pin_count', buffer: b.buffer, offset: 0, length: 4096 })).pins).toEqual([1]);
      // A's page is gone: none of B's pins are A's.
      expect((await call<{ pins: number[] }>(impl, { op: 'pin_count', buffer: a.buffer, offset: 0, length: 4096 })).pins).toEqual([0]);
      await impl.close?.();
    }
  });

  check('ref.mem.unmap-keeps-pinned-frames-reachable', async () => {
    const impl = createReferenceAdapter('7.3');
    const { iommufd, ioas, device } = await attached(impl);
    const a = await call<{ buffer: number; va: bigint }>(impl, { op: 'mem_alloc', length: 4096 });
    await call(impl, { op: 'mem_write', buffer: a.buffer, offset: 0, data: new Uint8Array([0xaa, 0xbb]) });
    await map(impl, iommufd, ioas, a.va, 0x200000n);
    await call(impl, { op: 'mem_unmap', buffer: a.buffer, offset: 0, length: 4096 });
    // Pinned: the frame outlives the user mapping, so B cannot get it.
    const b = await call<{ buffer: number; va: bigint }>(impl, { op: 'mem_alloc', length: 4096 });
    await map(impl, iommufd, ioas, b.va, 0x300000n);
    expect(await call(impl, { op: 'translate', device, iova: 0x200000n })).toMatchObject({ mapped: true, buffer: a.buffer, offset: 0 });
    const rd = await call<{ ok: boolean; data: Uint8Array; touched: unknown[] }>(impl, { op: 'dma', device, iova: 0x200000n, dir: 'read', length: 2 });
    expect([...rd.data]).toEqual([0xaa, 0xbb]);
    expect(rd.touched).toEqual([{ buffer: a.buffer, offset: 0, length: 2 }]);
    expect((await call<{ pins: number[] }>(impl, { op: 'pin_count', buffer: a.buffer, offset: 0, length: 4096 })).pins).toEqual([1]);
    expect(await call(impl, { op: 'translate', device, iova: 0x300000n })).toMatchObject({ mapped: true, buffer: b.buffer, offset: 0 });
    // IOAS_UNMAP drops the last pin: the frame is freed and a later buffer gets it, zeroed.
    const un = await call<{ errno: number }>(impl, { op: 'ioctl', fd: iommufd, cmd: 'IOMMU_IOAS_UNMAP', arg: { kind: 'struct', fields: { ioas_id: ioas, iova: 0x200000n, length: 4096n } } });
    expect(un.errno).toBe(0);
    expect((await call<{ pins: number[] }>(impl, { op: 'pin_count', buffer: a.buffer, offset: 0, length: 4096 })).pins).toEqual([0]);
    const c = await call<{ buffer: number; va: bigint }>(impl, { op: 'mem_alloc', length: 4096 });
    await map(impl, iommufd, ioas, c.va, 0x400000n);
    expect(await call(impl, { op: 'translate', device, iova: 0x400000n })).toMatchObject({ mapped: true, buffer: c.buffer, offset: 0 });
    const rc = await call<{ data: Uint8Array; touched: unknown[] }>(impl, { op: 'dma', device, iova: 0x400000n, dir: 'read', length: 2 });
    expect([...rc.data]).toEqual([0, 0]);
    expect(rc.touched).toEqual([{ buffer: c.buffer, offset: 0, length: 2 }]);
    expect((await call<{ pins: number[] }>(impl, { op: 'pin_count', buffer: a.buffer, offset: 0, length: 4096 })).pins).toEqual([0]);
    await impl.close?.();
  });
});
