/**
 * The `translate` observation is a software lookup (iommu_iova_to_phys), not a
 * device access: it sees write-only leaves and leaves the IOTLB untouched.
 */
import { describe, expect } from 'vitest';
import { check } from '../../spec/clauses/check.ts';
import { createReferenceAdapter } from './adapter.ts';
import type { SingleRequest } from '../../spec/contract/types.ts';

async function call(impl: ReturnType<typeof createReferenceAdapter>, req: SingleRequest): Promise<Record<string, unknown>> {
  const r = await impl.handle(req);
  if (!r.ok) throw new Error(`${req.op}: ${r.error.message}`);
  return r.result as Record<string, unknown>;
}

describe('translate observation', () => {
  check('ref.translate.write-only-and-no-side-effects', async () => {
    const impl = createReferenceAdapter('6.12');
    const { fd: iommufd } = (await call(impl, { op: 'open', node: 'iommu' })) as { fd: number };
    const { device } = (await call(impl, { op: 'device_create', spec: { iommu: 'vtd0' } })) as { device: number };
    const { fd: devFd } = (await call(impl, { op: 'open_device', device })) as { fd: number };
    const bind = (await call(impl, { op: 'ioctl', fd: devFd, cmd: 'VFIO_DEVICE_BIND_IOMMUFD', arg: { kind: 'struct', fields: { iommufd } } })) as { errno: number };
    expect(bind.errno).toBe(0);
    const ioas = (await call(impl, { op: 'ioctl', fd: iommufd, cmd: 'IOMMU_IOAS_ALLOC', arg: { kind: 'struct', fields: {} } })) as { out: { out_ioas_id: number } };
    const ioasId = ioas.out.out_ioas_id;
    const att = (await call(impl, { op: 'ioctl', fd: devFd, cmd: 'VFIO_DEVICE_ATTACH_IOMMUFD_PT', arg: { kind: 'struct', fields: { pt_id: ioasId } } })) as { errno: number };
    expect(att.errno).toBe(0);
    const buf = (await call(impl, { op: 'mem_alloc', length: 8192 })) as { buffer: number; va: bigint };
    // IOMMU_IOAS_MAP_WRITEABLE only: a leaf with W and without R.
    const map = (await call(impl, {
      op: 'ioctl',
      fd: iommufd,
      cmd: 'IOMMU_IOAS_MAP',
      arg: { kind: 'struct', fields: { ioas_id: ioasId, flags: 2, user_va: buf.va, length: 8192n } },
    })) as { errno: number; out: { iova: bigint } };
    expect(map.errno).toBe(0);
    const before = (await call(impl, { op: 'iotlb', iommu: 'vtd0' })) as { entries: unknown[] };
    const t = (await call(impl, { op: 'translate', device, iova: map.out.iova + 4100n })) as { mapped: boolean; buffer: number; offset: number; read: boolean; write: boolean };
    expect(t).toMatchObject({ mapped: true, buffer: buf.buffer, offset: 4100, read: false, write: true });
    const after = (await call(impl, { op: 'iotlb', iommu: 'vtd0' })) as { entries: unknown[] };
    expect(after.entries).toEqual(before.entries);
    // And the device path agrees: reading faults on permission, writing lands.
    const rd = (await call(impl, { op: 'dma', device, iova: map.out.iova + 4100n, dir: 'read', length: 1 })) as { ok: boolean; fault?: string };
    expect(rd).toMatchObject({ ok: false, fault: 'permission' });
    const wr = (await call(impl, { op: 'dma', device, iova: map.out.iova + 4100n, dir: 'write', data: new Uint8Array([7]) })) as { ok: boolean };
    expect(wr.ok).toBe(true);
    await impl.close?.();
  });
});
