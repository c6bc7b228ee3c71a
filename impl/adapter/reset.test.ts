/**
 * `reset` (ADAPTER.md §3.11) keeps the simulated memory and returns it to its
 * fresh state: after it, the same requests give exactly the answers a new
 * instance gives — user VAs, IOVAs, and the physical addresses the IOTLB
 * shows included — and nothing of the old session (contents, pins) remains.
 */
import { describe, expect } from 'vitest';
import { check } from '../../spec/clauses/check.ts';
import { createReferenceAdapter } from './adapter.ts';
import type { Response, SingleRequest } from '../../spec/contract/types.ts';

type Impl = ReturnType<typeof createReferenceAdapter>;

/** A scenario whose answers depend on where memory was allocated; `$n` refers to the n-th answer's fd/device/buffer/id. */
async function scenario(impl: Impl, fill: number): Promise<Response[]> {
  const out: Response[] = [];
  const call = async (req: SingleRequest): Promise<Record<string, unknown>> => {
    const r = await impl.handle(req);
    out.push(r);
    if (!r.ok) throw new Error(`${req.op}: ${r.error.message}`);
    return r.result as Record<string, unknown>;
  };
  const { fd: iommufd } = (await call({ op: 'open', node: 'iommu' })) as { fd: number };
  const { device } = (await call({ op: 'device_create', spec: { iommu: 'vtd0' } })) as { device: number };
  const { fd: devFd } = (await call({ op: 'open_device', device })) as { fd: number };
  await call({ op: 'ioctl', fd: devFd, cmd: 'VFIO_DEVICE_BIND_IOMMUFD', arg: { kind: 'struct', fields: { iommufd } } });
  const ioas = ((await call({ op: 'ioctl', fd: iommufd, cmd: 'IOMMU_IOAS_ALLOC', arg: { kind: 'struct', fields: {} } })) as { out: { out_ioas_id: number } }).out.out_ioas_id;
  await call({ op: 'ioctl', fd: devFd, cmd: 'VFIO_DEVICE_ATTACH_IOMMUFD_PT', arg: { kind: 'struct', fields: { pt_id: ioas } } });
  const buf = (await call({ op: 'mem_alloc', length: 3 * 4096 })) as { buffer: number; va: bigint };
  await call({ op: 'mem_read', buffer: buf.buffer, offset: 4090, length: 12 });
  await call({ op: 'mem_write', buffer: buf.buffer, offset: 4096, data: new Uint8Array([fill, fill]) });
  const map = (await call({ op: 'ioctl', fd: iommufd, cmd: 'IOMMU_IOAS_MAP', arg: { kind: 'struct', fields: { ioas_id: ioas, flags: 6, user_va: buf.va, length: 3n * 4096n } } })) as { out: { iova: bigint } };
  await call({ op: 'dma', device, iova: map.out.iova + 4096n, dir: 'read', length: 4 });
  await call({ op: 'iotlb', iommu: 'vtd0' });
  await call({ op: 'pin_count', buffer: buf.buffer, offset: 0, length: 3 * 4096 });
  await call({ op: 'process_info' });
  return out;
}

describe('reset', () => {
  check('ref.reset.same-answers-as-a-new-instance', async () => {
    for (const profile of ['6.12', '7.3'] as const) {
      const fresh = createReferenceAdapter(profile);
      const expected = await scenario(fresh, 1);
      await fresh.close?.();
      const reused = createReferenceAdapter(profile);
      // A session that leaves things behind: open files, pins, written memory, a second buffer, a VM.
      await scenario(reused, 0xee);
      await reused.handle({ op: 'mem_alloc', length: 5 * 4096 });
      await reused.handle({ op: 'kvm_create' });
      expect(await reused.handle({ op: 'reset' })).toStrictEqual({ ok: true, result: {} });
      expect(await scenario(reused, 1)).toStrictEqual(expected);
      await reused.close?.();
    }
  });

  check('ref.close.memory-reused-by-a-new-instance-is-fresh', async () => {
    const first = createReferenceAdapter('7.3');
    const expected = await scenario(first, 1);
    // Closed sessions give their memory back; new instances take it, cleared.
    const closed = [createReferenceAdapter('7.3'), createReferenceAdapter('7.3')];
    for (const c of closed) {
      await scenario(c, 0xee);
      await c.close?.();
    }
    const next = createReferenceAdapter('7.3');
    expect(await scenario(next, 1)).toStrictEqual(expected);
    // A closed instance used again starts a fresh session on memory of its own: `next` is untouched by it.
    const again = closed[0]!;
    const ownMemory = await scenario(again, 0x55);
    expect(ownMemory.length).toBe(expected.length);
    const r = await next.handle({ op: 'mem_read', buffer: 1, offset: 4096, length: 2 });
    expect(r).toStrictEqual({ ok: true, result: { data: new Uint8Array([1, 1]) } });
    for (const i of [first, next, again]) await i.close?.();
  });
});
