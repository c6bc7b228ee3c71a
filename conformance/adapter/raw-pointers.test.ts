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

/** Read-only arguments (ADAPTER.md §3.3) against the reference, wire validation on. */
describe('read-only arguments (reference)', () => {
  it('reads the argument, faults the copy back, keeps pointer targets writable', async () => {
    const a = await openAdapter('ref', { profile: '7.3', validateInProcess: true });
    try {
      const caps = await ok<{ readOnlyArgs?: { supported: boolean } }>(a, { op: 'capabilities' });
      expect(caps.readOnlyArgs).toEqual({ supported: true });
      const { fd } = await ok<{ fd: number }>(a, { op: 'open', node: 'iommu' });
      // The IOAS is made, its id cannot be returned: EFAULT, the argument as sent, and the id free again.
      const lost = await ok<IoctlResult>(a, { op: 'ioctl', fd, cmd: 'IOMMU_IOAS_ALLOC', arg: { kind: 'struct', fields: {}, readOnly: true } });
      expect([lost.ret, lost.errno, lost.out?.['out_ioas_id']]).toEqual([-1, 14, 0]);
      const alloc = await ok<IoctlResult>(a, { op: 'ioctl', fd, cmd: 'IOMMU_IOAS_ALLOC', arg: { kind: 'struct', fields: {} } });
      expect(alloc.out?.['out_ioas_id']).toBe(1);
      // A command that answers nothing through its struct is not affected; one that writes a pointer
      // target (not the struct) is not either: only the struct's own copy back faults.
      const destroyOk = await ok<IoctlResult>(a, { op: 'ioctl', fd, cmd: 'IOMMU_IOAS_ALLOC', arg: { kind: 'struct', fields: {} } });
      const destroy = await ok<IoctlResult>(a, { op: 'ioctl', fd, cmd: 'IOMMU_DESTROY', arg: { kind: 'struct', fields: { id: Number(destroyOk.out?.['out_ioas_id']) }, readOnly: true } });
      expect(destroy.ret).toBe(0);
      const command = resolveCommand('7.3', 'IOMMU_IOAS_IOVA_RANGES');
      if (!command) throw new Error('command');
      const built = buildIoctlArg('7.3', command, { kind: 'struct', fields: { ioas_id: 1, num_iovas: 1 } }, () => 0n);
      if (built.kind !== 'bytes') throw new Error('bytes');
      const raw = await ok<IoctlResult>(a, { op: 'ioctl', fd, cmd: 'IOMMU_IOAS_IOVA_RANGES', arg: { kind: 'raw', bytes: built.bytes, ptrs: [{ offset: 16, room: 16 }], readOnly: true } });
      // The ranges were written (the target is writable), then the respond of the struct faulted.
      expect([raw.ret, raw.errno]).toEqual([-1, 14]);
      expect(raw.ptrs?.[0]?.data.some((b) => b !== 0)).toBe(true);
      // Read-only placement is per call: the next argument is writable again.
      const again = await ok<IoctlResult>(a, { op: 'ioctl', fd, cmd: 'IOMMU_IOAS_ALLOC', arg: { kind: 'struct', fields: {} } });
      expect(again.ret).toBe(0);
      // A readOnly that is not a boolean is refused, naming it.
      const bad = await a.call({ op: 'ioctl', fd, cmd: 'IOMMU_IOAS_ALLOC', arg: { kind: 'struct', fields: {}, readOnly: 1 as unknown as boolean } });
      expect(bad.ok ? undefined : bad.error).toMatchObject({ code: 'bad-request', field: 'arg.readOnly' });
    } finally {
      await a.close();
    }
  });
});
