import { describe, expect, it } from 'vitest';
import { LowerError, lowerStructArg, raiseStruct } from './codec.ts';
import { parseSelftestConsole } from './selftest.ts';

function u32(b: Uint8Array, off: number): number {
  return new DataView(b.buffer, b.byteOffset).getUint32(off, true);
}
function u64(b: Uint8Array, off: number): bigint {
  return new DataView(b.buffer, b.byteOffset).getBigUint64(off, true);
}

describe('kernel lane struct lowering', () => {
  it('encodes IOMMU_IOAS_MAP at the C offsets with size defaulted', () => {
    const l = lowerStructArg('6.12', 'IOMMU_IOAS_MAP', {
      kind: 'struct',
      fields: { flags: 7, ioas_id: 3, user_va: 0x7f0000001000n, length: 0x4000n, iova: 1n << 24n },
    });
    expect(l.bytes.length).toBe(40);
    expect(u32(l.bytes, 0)).toBe(40); // size
    expect(u32(l.bytes, 4)).toBe(7);
    expect(u32(l.bytes, 8)).toBe(3);
    expect(u64(l.bytes, 16)).toBe(0x7f0000001000n);
    expect(u64(l.bytes, 24)).toBe(0x4000n);
    expect(u64(l.bytes, 32)).toBe(1n << 24n);
    expect(l.patches).toEqual([]);
  });

  it('turns pointer arguments into patches at the pointer offset', () => {
    const l = lowerStructArg('7.3', 'IOMMU_IOAS_IOVA_RANGES', { kind: 'struct', fields: { ioas_id: 1, num_iovas: 2, allowed_iovas: { room: 32 } } });
    expect(l.patches).toEqual([{ offset: 16, path: 'allowed_iovas', target: { room: 32 } }]);
  });

  it('encodes the IOMMU_TEST_CMD union member named in the value and decodes the one op selects', () => {
    const l = lowerStructArg('6.12', 'IOMMU_TEST_CMD', { kind: 'struct', fields: { op: 3, id: 9, check_map: { iova: 16n, length: 32n, uptr: 48n } } });
    expect(u32(l.bytes, 4)).toBe(3);
    expect(u32(l.bytes, 8)).toBe(9);
    expect(u64(l.bytes, 16)).toBe(16n);
    expect(u64(l.bytes, 32)).toBe(48n);
    const out = raiseStruct('6.12', l.struct, l.bytes);
    expect(out['check_map']).toEqual({ iova: 16n, length: 32n, uptr: 48n });
    expect(out['mock_domain']).toBeUndefined();
  });

  it('appends the tail and truncates, dropping patches past the cut', () => {
    const withTail = lowerStructArg('6.12', 'IOMMU_IOAS_ALLOC', { kind: 'struct', fields: {}, tail: new Uint8Array([0, 1]) });
    expect(withTail.bytes.length).toBe(14);
    expect(u32(withTail.bytes, 0)).toBe(12);
    expect(withTail.bytes[13]).toBe(1);
    const cut = lowerStructArg('6.12', 'IOMMU_IOAS_IOVA_RANGES', { kind: 'struct', fields: { allowed_iovas: { room: 16 } }, truncate: 16 });
    expect(cut.bytes.length).toBe(16);
    expect(cut.patches).toEqual([]);
  });

  it('names the bad field', () => {
    expect(() => lowerStructArg('6.12', 'IOMMU_IOAS_ALLOC', { kind: 'struct', fields: { nope: 1 } })).toThrow(LowerError);
    const err = ((): unknown => {
      try {
        lowerStructArg('6.12', 'IOMMU_IOAS_ALLOC', { kind: 'struct', fields: { flags: 1n << 40n } });
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(err).toBeInstanceOf(LowerError);
    expect((err as LowerError).field).toBe('arg.fields.flags');
    expect(() => lowerStructArg('6.12', 'IOMMU_VIOMMU_ALLOC', { kind: 'struct', fields: {} })).toThrow(/not a command of profile 6.12/);
  });
});

describe('selftest console parsing', () => {
  it('counts pass, fail and skip per binary', () => {
    const text = [
      'boot noise',
      '=== selftest iommufd begin',
      'ok 1 iommufd.simple_close',
      'not ok 2 iommufd_ioas.mock_domain.dmabuf_simple',
      'ok 3 iommufd_viommu.no_viommu.viommu_alloc # SKIP no viommu',
      '=== selftest iommufd end status 1',
      '=== selftest iommufd_fail_nth begin',
      'ok 1 basic_fail_nth.basic',
    ].join('\n');
    expect(parseSelftestConsole(text)).toEqual([
      { name: 'iommufd', pass: 1, fail: 1, skip: 1, failed: ['iommufd_ioas.mock_domain.dmabuf_simple'], status: 1 },
      { name: 'iommufd_fail_nth', pass: 1, fail: 0, skip: 0, failed: [], status: null },
    ]);
  });
});
