import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { check } from '../clauses/check.ts';
import { PROFILES, type Profile } from '../uapi/profiles.ts';
import { structLayout, structNames } from '../uapi/layout.ts';
import { arbRecord } from './arbitrary.ts';
import { CodecError, decodeArray, decodeStruct, encodeArray, encodeStruct, paddingMask, type FieldValue, type StructValue } from './codec.ts';
import { propertyRuns } from '../testing/property-budget.ts';

/** Every key of `sub` (recursively) has the same value in `sup`. */
function expectSubset(sup: FieldValue | undefined, sub: FieldValue, path: string): void {
  if (typeof sub === 'object' && !Array.isArray(sub)) {
    expect(typeof sup, path).toBe('object');
    for (const [k, v] of Object.entries(sub)) expectSubset((sup as StructValue)[k], v, `${path}.${k}`);
  } else if (Array.isArray(sub)) {
    expect(Array.isArray(sup), path).toBe(true);
    (sub as readonly FieldValue[]).forEach((v, i) => expectSubset((sup as readonly FieldValue[])[i], v, `${path}[${i}]`));
  } else {
    expect(sup, path).toStrictEqual(sub);
  }
}

const RUNS = 40;

describe('codec', () => {
  check('abi.codec.round-trip', () => {
    let structs = 0;
    for (const profile of PROFILES) {
      for (const name of structNames(profile)) {
        const layout = structLayout(profile, name);
        if (!layout) throw new Error(name);
        structs++;
        // value → bytes → value: every given member comes back, and re-encoding is stable.
        fc.assert(
          fc.property(arbRecord(layout.root), (value) => {
            const bytes = encodeStruct(profile, name, value);
            expect(bytes.length).toBe(layout.size);
            const back = decodeStruct(profile, name, bytes, { allMembers: true });
            expectSubset(back, value, `${profile} ${name}`);
            expect(encodeStruct(profile, name, back)).toEqual(bytes);
          }),
          propertyRuns(RUNS),
        );
        // bytes → value → bytes: identity except padding, which encodes as zero.
        const pad = paddingMask(profile, name);
        fc.assert(
          fc.property(fc.uint8Array({ minLength: layout.size, maxLength: layout.size }), (raw) => {
            const value = decodeStruct(profile, name, raw, { allMembers: true });
            const expected = raw.map((b, i) => (pad[i] ? 0 : b));
            expect(encodeStruct(profile, name, value)).toEqual(expected);
          }),
          propertyRuns(RUNS),
        );
      }
    }
    expect(structs).toBeGreaterThan(80);
  });

  it('encodes little-endian at the gcc offsets', () => {
    const bytes = encodeStruct('6.12', 'iommu_ioas_map', { size: 40, flags: 6, ioas_id: 3, user_va: 0x1122334455667788n, length: 0x2000n, iova: 0n });
    expect(Array.from(bytes.subarray(0, 12))).toEqual([40, 0, 0, 0, 6, 0, 0, 0, 3, 0, 0, 0]);
    expect(Array.from(bytes.subarray(16, 24))).toEqual([0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11]);
  });

  it('zero-extends short input and ignores bytes past sizeof', () => {
    const v = decodeStruct('6.12', 'iommu_destroy', new Uint8Array([8, 0, 0, 0, 5]));
    expect(v).toEqual({ size: 8, id: 5 });
    const w = decodeStruct('6.12', 'iommu_destroy', new Uint8Array([8, 0, 0, 0, 5, 0, 0, 0, 0xff, 0xff]));
    expect(w).toEqual({ size: 8, id: 5 });
  });

  it('members of anonymous unions sit in the parent (7.3 iommu_hw_info)', () => {
    const bytes = encodeStruct('7.3', 'iommu_hw_info', { in_data_type: 0xfeedbeef });
    expect(decodeStruct('7.3', 'iommu_hw_info', bytes)).toMatchObject({ in_data_type: 0xfeedbeef, out_data_type: 0xfeedbeef });
    // 6.12 has no union there.
    expect(() => encodeStruct('6.12', 'iommu_hw_info', { in_data_type: 1 })).toThrow(CodecError);
  });

  it('decodes the iommu_test_cmd union member its op selects', () => {
    const bytes = encodeStruct('6.12', 'iommu_test_cmd', { size: 72, op: 1, id: 2, add_reserved: { start: 0x1000n, length: 0x2000n } });
    const v = decodeStruct('6.12', 'iommu_test_cmd', bytes);
    expect(Object.keys(v)).toEqual(['size', 'op', 'id', '__reserved', 'add_reserved', 'last']);
    expect(v.add_reserved).toEqual({ start: 0x1000n, length: 0x2000n });
    // An op the profile lacks (7.3's PASID_ATTACH = 18 in 6.12) selects nothing: every member is decoded.
    const all = decodeStruct('6.12', 'iommu_test_cmd', encodeStruct('6.12', 'iommu_test_cmd', { op: 18 }));
    expect(Object.keys(all)).toContain('dirty');
    expect(Object.keys(all)).not.toContain('pasid_attach');
  });

  it('names the bad field of a value it cannot encode', () => {
    const err = (f: () => unknown): CodecError => {
      try {
        f();
      } catch (e) {
        if (e instanceof CodecError) return e;
        throw e;
      }
      throw new Error('no CodecError');
    };
    expect(err(() => encodeStruct('6.12', 'iommu_ioas_map', { lenght: 1n })).field).toBe('lenght');
    expect(err(() => encodeStruct('6.12', 'iommu_ioas_map', { flags: 2 ** 32 })).field).toBe('flags');
    expect(err(() => encodeStruct('6.12', 'iommu_ioas_map', { iova: -1n })).field).toBe('iova');
    expect(err(() => encodeStruct('6.12', 'iommu_ioas_map', { iova: 1.5 })).field).toBe('iova');
    expect(err(() => encodeStruct('6.12', 'iommu_test_cmd', { check_map: { iova: 1n, bogus: 1 } })).field).toBe('check_map.bogus');
    expect(err(() => encodeStruct('7.3', 'iommu_hw_info_arm_smmuv3', { idr: [1, 2, 3, 4, 5, 6, 7] })).field).toBe('idr');
    expect(err(() => encodeStruct('6.12', 'iommu_viommu_alloc', {})).message).toMatch(/does not exist in profile 6.12/);
  });

  it('encodes and decodes arrays of structs', () => {
    const ranges = [
      { start: 0x1000n, last: 0x1fffn },
      { start: 0x8000n, last: 0xffffn },
    ];
    const bytes = encodeArray('6.12', 'iommu_iova_range', ranges);
    expect(bytes.length).toBe(32);
    expect(decodeArray('6.12', 'iommu_iova_range', bytes)).toEqual(ranges);
    expect(decodeArray('6.12', 'iommu_iova_range', bytes, 1)).toEqual([ranges[0]]);
    try {
      encodeArray('6.12', 'iommu_iova_range', [{}, { last: -1n }]);
      throw new Error('no CodecError');
    } catch (e) {
      expect(e).toBeInstanceOf(CodecError);
      expect((e as CodecError).field).toBe('[1].last');
    }
  });

  it('accepts a number for u64 fields and returns bigint', () => {
    const v = decodeStruct('6.12', 'iommu_ioas_unmap', encodeStruct('6.12', 'iommu_ioas_unmap', { iova: 4096, length: 8192 }));
    expect(v).toEqual({ size: 0, ioas_id: 0, iova: 4096n, length: 8192n });
  });

  it.each(PROFILES)('pads iommu_test_cmd.dirty after flags (%s)', (profile: Profile) => {
    const pad = paddingMask(profile, 'iommu_test_cmd');
    // offsets 20..23 are dirty's padding but other members (access_pages.out_access_pages_id) use them.
    expect(pad.slice(20, 24)).toEqual([false, false, false, false]);
    // 68..71: after `last`.
    expect(pad.slice(68, 72)).toEqual([true, true, true, true]);
  });
});
