/**
 * The device side end to end through the reference adapter's request handler
 * (the same path `iommufd-spec serve --impl ref` serves): create devices, open
 * and bind their VFIO files, attach, DMA into a buffer, observe, register with
 * KVM.
 */
import { describe, expect } from 'vitest';
import { check } from '../../spec/clauses/check.ts';
import { createReferenceAdapter } from './adapter.ts';

type Res = { ok: boolean; result?: Record<string, unknown>; error?: { message: string } };

function client(profile: '6.12' | '7.3') {
  const impl = createReferenceAdapter(profile);
  return async (req: Record<string, unknown>): Promise<Record<string, unknown>> => {
    const r = (await impl.handle(req as never)) as unknown as Res;
    if (!r.ok) throw new Error(`${String(req.op)}: ${r.error?.message}`);
    return r.result ?? {};
  };
}

describe('device side through the reference adapter', () => {
  check('ref.adapter.device-dma-kvm', async () => {
    const call = client('6.12');
    const { fd: iommufd } = (await call({ op: 'open', node: 'iommu' })) as { fd: number };
    const dev = (await call({ op: 'device_create', spec: { iommu: 'smmu0' } })) as { device: number; group: number };
    const { fd: devFd } = (await call({ op: 'open_device', device: dev.device })) as { fd: number };
    const bind = (await call({ op: 'ioctl', fd: devFd, cmd: 'VFIO_DEVICE_BIND_IOMMUFD', arg: { kind: 'struct', fields: { iommufd } } })) as {
      errno: number;
      out: { out_devid: number };
    };
    expect(bind.errno).toBe(0);
    const ioas = (await call({ op: 'ioctl', fd: iommufd, cmd: 'IOMMU_IOAS_ALLOC', arg: { kind: 'struct', fields: {} } })) as { out: { out_ioas_id: number } };
    const ioasId = ioas.out.out_ioas_id;
    const buf = (await call({ op: 'mem_alloc', length: 8192 })) as { buffer: number; va: bigint };
    await call({ op: 'mem_write', buffer: buf.buffer, offset: 100, data: new Uint8Array([1, 2, 3, 4]) });
    const mapped = (await call({
      op: 'ioctl',
      fd: iommufd,
      cmd: 'IOMMU_IOAS_MAP',
      arg: { kind: 'struct', fields: { ioas_id: ioasId, flags: 6, user_va: buf.va, length: 8192n } },
    })) as { errno: number; out: { iova: bigint } };
    expect(mapped.errno).toBe(0);
    const att = (await call({ op: 'ioctl', fd: devFd, cmd: 'VFIO_DEVICE_ATTACH_IOMMUFD_PT', arg: { kind: 'struct', fields: { pt_id: ioasId } } })) as {
      errno: number;
      out: { pt_id: number };
    };
    expect(att.errno).toBe(0);
    expect(att.out.pt_id).not.toBe(ioasId);
    const rd = (await call({ op: 'dma', device: dev.device, iova: mapped.out.iova + 100n, dir: 'read', length: 4 })) as {
      ok: boolean;
      data: Uint8Array;
      touched: unknown[];
    };
    expect(rd.ok).toBe(true);
    expect(Array.from(rd.data)).toEqual([1, 2, 3, 4]);
    expect(rd.touched).toEqual([{ buffer: buf.buffer, offset: 100, length: 4 }]);
    const wr = (await call({ op: 'dma', device: dev.device, iova: mapped.out.iova + 4096n, dir: 'write', data: new Uint8Array([9, 9]) })) as { ok: boolean };
    expect(wr.ok).toBe(true);
    const back = (await call({ op: 'mem_read', buffer: buf.buffer, offset: 4096, length: 2 })) as { data: Uint8Array };
    expect(Array.from(back.data)).toEqual([9, 9]);
    const tr = (await call({ op: 'translate', device: dev.device, iova: mapped.out.iova })) as Record<string, unknown>;
    expect(tr).toEqual({ mapped: true, buffer: buf.buffer, offset: 0, read: true, write: true });
    const tlb = (await call({ op: 'iotlb', iommu: 'smmu0' })) as { entries: unknown[] };
    expect(tlb.entries.length).toBeGreaterThan(0);
    // KVM: an SMMUv3 device without CANWBS makes DMA non-coherent
    const { vm } = (await call({ op: 'kvm_create' })) as { vm: number };
    expect(await call({ op: 'kvm_vfio_add', vm, fd: devFd })).toEqual({ ret: 0, errno: 0 });
    expect(await call({ op: 'kvm_state', vm })).toEqual({ noncoherentDma: true, registeredFds: [devFd] });
    // the device cannot go away while registered, even with its fd closed
    await call({ op: 'close', fd: devFd });
    const impl2 = await call({ op: 'kvm_state', vm });
    expect(impl2).toEqual({ noncoherentDma: true, registeredFds: [devFd] });
    await expect(call({ op: 'device_remove', device: dev.device })).rejects.toThrow(/in use/);
    await call({ op: 'kvm_destroy', vm });
    expect(await call({ op: 'device_remove', device: dev.device })).toEqual({});
    const gone = (await call({ op: 'dma', device: dev.device, iova: 0n, dir: 'read', length: 1 }).catch((e: Error) => e.message)) as string;
    expect(gone).toMatch(/no device/);
  });

  check('ref.adapter.capabilities-iommus', async () => {
    for (const profile of ['6.12', '7.3'] as const) {
      const call = client(profile);
      const caps = (await call({ op: 'capabilities' })) as { iommus: { name: string }[]; deviceFeatures: Record<string, { supported: boolean }> };
      expect(caps.iommus.map((i) => i.name).sort()).toEqual(['amd0', 'mock', 'smmu0', 'vtd0', 'vtd1', 'vtd2']);
      expect(caps.deviceFeatures.multiDeviceGroups!.supported).toBe(true);
      expect(caps.deviceFeatures.hugeIova!.supported).toBe(profile === '6.12');
    }
  });
});
