import { describe, expect, it } from 'vitest';
import { openAdapter } from './open.ts';
import { buildIoctlArg, resolveCommand } from '../../spec/abi/arg.ts';
import { decodeStruct } from '../../spec/abi/codec.ts';
import type { Adapter, IoctlResult, Request } from '../../spec/contract/types.ts';


async function ok<T>(a: Adapter, r: Request): Promise<T> {
  const res = await a.call(r);
  if (!res.ok) throw new Error(`${r.op}: ${res.error.message}`);
  return res.result as T;
}

/** Pointer patches on raw arguments (ADAPTER.md §3.3) against the reference, wire validation on. */
describe('raw arguments with pointer patches (reference)', () => {
  it('reports support and answers a patched IOMMU_IOAS_IOVA_RANGES as the struct form does', async () => {
    const a = await openAdapter('ref', { profile: '6.12', validateInProcess: true });
    try {
      const caps = await ok<{ rawPointerPatches?: { supported: boolean } }>(a, { op: 'capabilities' });
      expect(caps.rawPointerPatches).toEqual({ supported: true });
      const { fd } = await ok<{ fd: number }>(a, { op: 'open', node: 'iommu' });
      const alloc = await ok<IoctlResult>(a, { op: 'ioctl', fd, cmd: 'IOMMU_IOAS_ALLOC', arg: { kind: 'struct', fields: {} } });
      const ioas = Number(alloc.out?.['out_ioas_id']);
      const fields = { ioas_id: ioas, num_iovas: 1 };
      const typed = await ok<IoctlResult>(a, { op: 'ioctl', fd, cmd: 'IOMMU_IOAS_IOVA_RANGES', arg: { kind: 'struct', fields: { ...fields, allowed_iovas: { room: 16 } } } });
      const command = resolveCommand('6.12', 'IOMMU_IOAS_IOVA_RANGES');
      if (!command) throw new Error('command');
      const built = buildIoctlArg('6.12', command, { kind: 'struct', fields }, () => 0n);
      if (built.kind !== 'bytes') throw new Error('bytes');
      const raw = await ok<IoctlResult>(a, { op: 'ioctl', fd, cmd: 'IOMMU_IOAS_IOVA_RANGES', arg: { kind: 'raw', bytes: built.bytes, ptrs: [{ offset: 16, room: 16 }] } });
      expect(raw.ret).toBe(0);
      expect(raw.buffers).toBeUndefined();
      expect(raw.ptrs?.map((p) => p.data)).toEqual([typed.buffers?.['allowed_iovas']]);
      expect(raw.ptrs?.[0]?.data.some((b) => b !== 0)).toBe(true);
      // The adapter wrote the scratch address into the argument.
      expect(decodeStruct('6.12', 'iommu_ioas_iova_ranges', raw.bytes ?? new Uint8Array(0)).allowed_iovas).not.toBe(0n);
      // A patch that does not fit is refused, naming it.
      const bad = await a.call({ op: 'ioctl', fd, cmd: 'IOMMU_IOAS_IOVA_RANGES', arg: { kind: 'raw', bytes: built.bytes, ptrs: [{ offset: 28, room: 16 }] } });
      expect(bad.ok ? undefined : bad.error).toMatchObject({ code: 'bad-request', field: 'arg.ptrs.0.offset' });
    } finally {
      await a.close();
    }
  });
});
