import { describe, expect, it } from 'vitest';
import { commandByName } from '../uapi/index.ts';
import { ERRNO } from '../uapi/errno.ts';
import type { CommandDef } from '../uapi/types.ts';
import type { Profile } from '../uapi/profiles.ts';
import { buildIoctlArg, ioctlArgField, MAX_PATCH_DEPTH, rawPointerResults, resolveCommand } from './arg.ts';
import type { IoctlArg, PointerArg, RawPointerPatch } from '../contract/types.ts';
import { CodecError, decodeStruct } from './codec.ts';
import { argBytes, decodeIoctl } from './dispatch.ts';
import { VFIO_DEVICE_BIND_IOMMUFD } from '../uapi/constants.ts';

function cmd(profile: Profile, name: string): CommandDef {
  const c = commandByName(profile, name);
  if (!c) throw new Error(name);
  return c;
}

function bytesOf(b: ReturnType<typeof buildIoctlArg>): Uint8Array {
  if (b.kind !== 'bytes') throw new Error(`expected bytes, got ${b.kind}`);
  return b.bytes;
}

describe('buildIoctlArg', () => {
  it('defaults size/argsz to sizeof and encodes the fields', () => {
    const b = bytesOf(buildIoctlArg('6.12', cmd('6.12', 'IOMMU_IOAS_MAP'), { kind: 'struct', fields: { flags: 6, ioas_id: 1, user_va: 0x7000n, length: 4096n } }));
    expect(b.length).toBe(40);
    expect(decodeStruct('6.12', 'iommu_ioas_map', b)).toMatchObject({ size: 40, flags: 6, ioas_id: 1, length: 4096n });
    const v = bytesOf(buildIoctlArg('7.3', cmd('7.3', 'VFIO_DEVICE_BIND_IOMMUFD'), { kind: 'struct', fields: { iommufd: 3 } }));
    expect(decodeStruct('7.3', 'vfio_device_bind_iommufd', v)).toMatchObject({ argsz: 24, iommufd: 3 });
  });

  it('truncates and appends a tail, giving the size rules something to bite', () => {
    const c = cmd('6.12', 'IOMMU_DESTROY');
    const short = bytesOf(buildIoctlArg('6.12', c, { kind: 'struct', fields: { size: 4 }, truncate: 4 }));
    expect(short.length).toBe(4);
    expect(decodeIoctl('6.12', 'iommufd', c.request, argBytes(short))).toMatchObject({ ok: false, errno: ERRNO.EINVAL });
    const tail = bytesOf(buildIoctlArg('6.12', c, { kind: 'struct', fields: { size: 16, id: 1 }, tail: new Uint8Array([0, 0, 0, 0, 0, 0, 0, 1]) }));
    expect(tail.length).toBe(16);
    expect(decodeIoctl('6.12', 'iommufd', c.request, argBytes(tail))).toMatchObject({ ok: false, errno: ERRNO.E2BIG });
  });

  it('appends the tail before cutting to truncate, and drops pointers the cut removed', () => {
    const c = cmd('6.12', 'IOMMU_IOAS_ALLOC');
    const b = bytesOf(buildIoctlArg('6.12', c, { kind: 'struct', fields: {}, tail: new Uint8Array([7, 8, 9]), truncate: 14 }));
    expect([...b.subarray(12)]).toEqual([7, 8]);
    const r = cmd('6.12', 'IOMMU_IOAS_IOVA_RANGES');
    const cut = buildIoctlArg('6.12', r, { kind: 'struct', fields: { allowed_iovas: { room: 16 } }, truncate: 20 }, () => 0x4000n);
    if (cut.kind !== 'bytes') throw new Error('bytes');
    expect(cut.bytes.length).toBe(20);
    expect(cut.pointers).toEqual([]);
  });

  it('applies pointer patches of a raw argument, nested ones first, and reads their results back in order', () => {
    const c = cmd('6.12', 'IOMMU_DESTROY');
    const addresses = new Map<string, bigint>();
    const targets = new Map<string, PointerArg>();
    const place = (path: string, arg: PointerArg): bigint => {
      const a = 0x1000n * BigInt(addresses.size + 1);
      addresses.set(path, a);
      targets.set(path, arg);
      return a;
    };
    const ptrs = [
      { offset: 8, room: 4 },
      { offset: 0, data: new Uint8Array(16), ptrs: [{ offset: 8, data: new Uint8Array([5]) }] },
    ];
    const b = buildIoctlArg('6.12', c, { kind: 'raw', bytes: new Uint8Array(16), ptrs }, place);
    if (b.kind !== 'bytes') throw new Error('bytes');
    expect(b.pointers.map((p) => [p.path, p.offset, p.address])).toEqual([
      ['ptrs.0', 8, 0x1000n],
      ['ptrs.1.ptrs.0', 8, 0x2000n],
      ['ptrs.1', 0, 0x3000n],
    ]);
    const dv = new DataView(b.bytes.buffer);
    expect(dv.getBigUint64(8, true)).toBe(0x1000n);
    expect(dv.getBigUint64(0, true)).toBe(0x3000n);
    // The parent target holds its child's address; the caller's bytes are untouched.
    const parent = targets.get('ptrs.1');
    if (!parent || !('data' in parent)) throw new Error('data');
    expect(new DataView(parent.data.buffer).getBigUint64(8, true)).toBe(0x2000n);
    expect(ptrs[1]?.data?.[8]).toBe(0);
    const read = (path: string): Uint8Array => new Uint8Array([Number((addresses.get(path) ?? 0n) >> 12n)]);
    expect(rawPointerResults(ptrs, read)).toEqual([{ data: new Uint8Array([1]) }, { data: new Uint8Array([3]), ptrs: [{ data: new Uint8Array([2]) }] }]);
  });

  it('refuses pointer patches it cannot apply, naming the field', () => {
    const c = cmd('6.12', 'IOMMU_DESTROY');
    const fieldOf = (arg: IoctlArg, place?: (p: string, a: PointerArg) => bigint): string => {
      try {
        buildIoctlArg('6.12', c, arg, place);
      } catch (e) {
        if (e instanceof CodecError) return ioctlArgField(e);
        throw e;
      }
      return '(no error)';
    };
    const bytes = new Uint8Array(8);
    expect(fieldOf({ kind: 'raw', bytes, ptrs: [{ offset: 0, room: 1 }] })).toBe('arg.ptrs');
    expect(fieldOf({ kind: 'raw', bytes, ptrs: [{ offset: 0, room: 1 }, { offset: 1, room: 1 }] }, () => 1n)).toBe('arg.ptrs.1.offset');
    let deep: RawPointerPatch = { offset: 0, room: 8 };
    for (let i = 0; i < MAX_PATCH_DEPTH; i++) deep = { offset: 0, room: 8, ptrs: [deep] };
    expect(fieldOf({ kind: 'raw', bytes, ptrs: [deep] }, () => 1n)).toBe('(no error)');
    expect(fieldOf({ kind: 'raw', bytes, ptrs: [{ offset: 0, room: 8, ptrs: [deep] }] }, () => 1n)).toMatch(/^arg\.ptrs(\.0\.ptrs)+$/);
  });

  it('names the request field of a codec error', () => {
    expect(ioctlArgField(new CodecError('flags', 'x'))).toBe('arg.fields.flags');
    expect(ioctlArgField(new CodecError('truncate', 'x'))).toBe('arg.truncate');
    expect(ioctlArgField(new CodecError('arg', 'x'))).toBe('arg');
    expect(ioctlArgField(new CodecError('', 'x'))).toBe('arg');
  });

  it('places data/room pointers through the adapter and records them', () => {
    const c = cmd('6.12', 'IOMMU_IOAS_ALLOW_IOVAS');
    const data = new Uint8Array(16);
    const built = buildIoctlArg('6.12', c, { kind: 'struct', fields: { ioas_id: 1, num_iovas: 1, allowed_iovas: { data } } }, (path) => (path === 'allowed_iovas' ? 0x5000n : 0n));
    if (built.kind !== 'bytes') throw new Error('bytes');
    expect(decodeStruct('6.12', 'iommu_ioas_allow_iovas', built.bytes).allowed_iovas).toBe(0x5000n);
    expect(built.pointers).toEqual([{ path: 'allowed_iovas', offset: 16, arg: { data }, address: 0x5000n }]);
    // Nested pointer in a union member of IOMMU_TEST_CMD.
    const t = buildIoctlArg('6.12', cmd('6.12', 'IOMMU_TEST_CMD'), { kind: 'struct', fields: { op: 8, access_rw: { uptr: { room: 64 }, length: 64n } } }, () => 0x9000n);
    if (t.kind !== 'bytes') throw new Error('bytes');
    expect(t.pointers.map((p) => [p.path, p.offset])).toEqual([['access_rw.uptr', 32]]);
    // A placeholder address (0) lets a remote adapter patch the pointer at `offset` itself.
    const r = buildIoctlArg('7.3', cmd('7.3', 'IOMMU_HWPT_ALLOC'), { kind: 'struct', fields: { data_uptr: { data: new Uint8Array(4) }, data_len: 4 } }, () => 0n);
    if (r.kind !== 'bytes') throw new Error('bytes');
    expect(r.pointers.map((p) => [p.path, p.offset])).toEqual([['data_uptr', 32]]);
  });

  it('names the bad field', () => {
    const fieldOf = (f: () => unknown): string => {
      try {
        f();
      } catch (e) {
        if (e instanceof CodecError) return e.field;
        throw e;
      }
      return '(no error)';
    };
    const map = cmd('6.12', 'IOMMU_IOAS_MAP');
    expect(fieldOf(() => buildIoctlArg('6.12', map, { kind: 'struct', fields: { user_va: { data: new Uint8Array(1) } } }))).toBe('user_va');
    expect(fieldOf(() => buildIoctlArg('6.12', map, { kind: 'struct', fields: { length: { room: 1 } } }, () => 1n))).toBe('length');
    expect(fieldOf(() => buildIoctlArg('6.12', map, { kind: 'struct', fields: {}, truncate: 41 }))).toBe('truncate');
    expect(fieldOf(() => buildIoctlArg('6.12', cmd('6.12', 'VFIO_SET_IOMMU'), { kind: 'struct', fields: {} }))).toBe('arg');
  });

  it('passes raw, int, null and fault through', () => {
    const c = cmd('6.12', 'VFIO_CHECK_EXTENSION');
    expect(buildIoctlArg('6.12', c, { kind: 'int', value: 3n })).toEqual({ kind: 'int', value: 3n });
    expect(buildIoctlArg('6.12', c, { kind: 'null' })).toEqual({ kind: 'null' });
    expect(buildIoctlArg('6.12', c, { kind: 'fault' })).toEqual({ kind: 'fault' });
    expect(buildIoctlArg('6.12', c, { kind: 'raw', bytes: new Uint8Array([1, 2]) })).toEqual({ kind: 'bytes', bytes: new Uint8Array([1, 2]), pointers: [] });
  });

  it('resolves commands by name or request number per profile', () => {
    expect(resolveCommand('7.3', 'IOMMU_IOAS_MAP_FILE')?.nr).toBe(0x8f);
    expect(resolveCommand('6.12', 'IOMMU_IOAS_MAP_FILE')).toBeUndefined();
    expect(resolveCommand('6.12', VFIO_DEVICE_BIND_IOMMUFD)?.name).toBe('VFIO_DEVICE_BIND_IOMMUFD');
  });
});
