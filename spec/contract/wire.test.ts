import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { isDeepStrictEqual } from 'node:util';
import { check } from '../clauses/check.ts';
import { answeredArb, requestArb } from './arbitraries.ts';
import { checkSchema } from './validate.ts';
import { requestFromWire, requestToWire, responseFromWire, responseToWire, structFromWire, WireFormatError } from './wire.ts';
import type { Json } from './wire.ts';
import { propertyRuns } from '../testing/property-budget.ts';

const RUNS = propertyRuns(400);

/**
 * Deep equality, prototypes and all (node's isDeepStrictEqual). Not vitest's
 * toStrictEqual alone: its type check compares `a.constructor` with
 * `b.constructor`, which for a generated map with an own key "constructor"
 * (a `buffers` entry named so) compares two values, not two classes — a
 * false failure a fresh seed found. On a real difference, toStrictEqual
 * shows it (and a difference only node sees still fails).
 */
function expectSame(got: unknown, want: unknown): void {
  if (isDeepStrictEqual(got, want)) return;
  expect(got).toStrictEqual(want);
  expect.fail('the two differ (node:util isDeepStrictEqual)');
}

describe('adapter wire form', () => {
  check('adapter.wire.request-roundtrip', () => {
    fc.assert(
      fc.property(requestArb, fc.nat(), (request, id) => {
        const wire = requestToWire(request);
        // The wire form survives JSON text and is schema-valid as a client message.
        const text = JSON.parse(JSON.stringify({ id, ...wire })) as Json;
        expect(checkSchema('clientMessage', text)).toBeUndefined();
        expectSame(requestFromWire(text), structuredClone(request));
      }),
      RUNS,
    );
  });

  check('adapter.wire.response-roundtrip', () => {
    fc.assert(
      fc.property(answeredArb, fc.nat(), ({ request, response }, id) => {
        const wire = responseToWire(request, response);
        const text = JSON.parse(JSON.stringify({ id, ...wire })) as Json;
        expect(checkSchema('serverMessage', text)).toBeUndefined();
        if (response.ok) {
          const result = (text as { result: Json }).result;
          expect(checkSchema(`result_${request.op}`, result)).toBeUndefined();
          if (request.op === 'batch') {
            for (const item of (result as { responses: Json[] }).responses) expect(checkSchema('batchItemResponse', item)).toBeUndefined();
          }
        }
        expectSame(responseFromWire(request, text), structuredClone(response));
      }),
      RUNS,
    );
  });

  check('adapter.wire.bigint-and-bytes-encoding', () => {
    const wire = requestToWire({
      op: 'ioctl',
      fd: 3,
      cmd: 'IOMMU_IOAS_MAP',
      arg: { kind: 'struct', fields: { size: 40, iova: (1n << 64n) - 1n, user_va: { data: new Uint8Array([1, 2, 3]) }, nested: { room: 8 } } },
    });
    expect(wire).toStrictEqual({
      op: 'ioctl',
      fd: 3,
      cmd: 'IOMMU_IOAS_MAP',
      arg: { kind: 'struct', fields: { size: 40, iova: '18446744073709551615', user_va: { data: { b64: 'AQID' } }, nested: { room: 8 } } },
    });
    // Hex is accepted on input and means the same bigint.
    expect(structFromWire({ iova: '0x1000', len: '4096' }, 'fields')).toStrictEqual({ iova: 4096n, len: 4096n });
    // A "__proto__" field stays an ordinary key.
    const odd = structFromWire(JSON.parse('{"__proto__": 5}') as Json, 'fields');
    expect(Object.keys(odd)).toStrictEqual(['__proto__']);
    expect(Object.getPrototypeOf(odd)).toBe(Object.prototype);
  });

  it('validates a large byte string (the base64 pattern must not overflow the regexp stack)', () => {
    // A 3.7 MB mem_read (found by speaks-contract at the large budget, seed 1424672076) threw
    // RangeError from ajv: V8 kept a backtrack entry per 4-character group of `(?:[…]{4})*`.
    const b64 = Buffer.alloc(3_710_093, 0xa5).toString('base64');
    expect(checkSchema('result_mem_read', { data: { b64 } })).toBeUndefined();
    expect(checkSchema('result_mem_read', { data: { b64: `${b64.slice(0, -4)}A===` } })).toBeDefined();
    expect(checkSchema('result_mem_read', { data: { b64: `${b64}A` } })).toBeDefined();
  });

  it('names a bytes field that holds no bytes when encoding (a caller building requests in code)', () => {
    const bad = { op: 'mem_write', buffer: 1, offset: 0, data: { b64: 'AA==' } } as unknown as Parameters<typeof requestToWire>[0];
    expect(() => requestToWire(bad)).toThrow(WireFormatError);
    expect(() => requestToWire(bad)).toThrow(/field 'data' must be bytes/);
  });

  check('adapter.wire.decode-names-bad-field', () => {
    const bad = (v: Json): string => {
      try {
        requestFromWire(v);
      } catch (err) {
        if (err instanceof WireFormatError) return err.field;
        throw err;
      }
      return '(accepted)';
    };
    expect(bad({ op: 'ioctl', fd: 3, cmd: 'X', arg: { kind: 'struct', fields: { iova: 'nope' } } })).toBe('arg.fields.iova');
    expect(bad({ op: 'mem_write', buffer: 1, offset: 0, data: { b64: '###' } })).toBe('data.b64');
    expect(bad({ op: 'batch', requests: [{ op: 'open', node: 'iommu' }, { op: 'batch', requests: [] }] })).toBe('requests.1.op');
    expect(bad({ op: 'device_create', spec: { iommu: 'a', reservedRegions: [{ start: '1', last: 2 }] } })).toBe('spec.reservedRegions.0.last');
    expect(bad({ op: 'frob' })).toBe('op');
    const ptr = (p: Json): Json => ({ op: 'ioctl', fd: 3, cmd: 1, arg: { kind: 'raw', bytes: { b64: '' }, ptrs: [{ offset: 0, room: 1 }, p] } });
    expect(bad(ptr({ offset: 8, room: 1, data: { b64: '' } }))).toBe('arg.ptrs.1');
    expect(bad(ptr({ offset: 8 }))).toBe('arg.ptrs.1.room');
    expect(bad(ptr({ offset: 8, room: 1, ptrs: [{ offset: -1, room: 1 }] }))).toBe('arg.ptrs.1.ptrs.0.offset');
  });

  check('adapter.schema.rejects-naming-field', () => {
    const cases: [Json, string][] = [
      [{ op: 'open', node: 'iommu' }, 'id'],
      [{ id: 1, op: 'open' }, 'node'],
      [{ id: 1, op: 'open', node: 'iommu', extra: 1 }, 'extra'],
      [{ id: 1, op: 'nope' }, 'op'],
      [{ id: 1, op: 'ioctl', fd: 3, cmd: 'IOMMU_DESTROY', arg: { kind: 'structure' } }, 'arg.kind'],
      [{ id: 1, op: 'ioctl', fd: 3, cmd: 'IOMMU_DESTROY', arg: { kind: 'struct', fields: { id: 1.5 } } }, 'arg.fields.id'],
      [{ id: 1, op: 'mem_alloc', length: -1 }, 'length'],
      [{ id: -1, op: 'capabilities' }, 'id'],
      [{ id: 1, op: 'hello', contract: [], profile: null }, 'contract'],
      [{ id: 1, op: 'hello', contract: [1], profile: '6.1' }, 'profile'],
    ];
    for (const [msg, field] of cases) {
      const v = checkSchema('clientMessage', msg);
      expect(v, JSON.stringify(msg)).toBeDefined();
      expect(v?.field, JSON.stringify(msg)).toBe(field);
      expect(v?.message).toContain(field);
    }
    // Pointer patches on raw arguments (ADAPTER.md §3.3): data or room, nesting, no other keys.
    const raw = (ptrs: Json): Json => ({ id: 1, op: 'ioctl', fd: 3, cmd: 'IOMMU_DESTROY', arg: { kind: 'raw', bytes: { b64: 'AAAAAAAAAAA=' }, ptrs } });
    expect(checkSchema('clientMessage', raw([{ offset: 0, room: 8, ptrs: [{ offset: 0, data: { b64: 'AQ==' } }] }]))).toBeUndefined();
    expect(checkSchema('clientMessage', raw([{ offset: 0 }]))).toBeDefined();
    expect(checkSchema('clientMessage', raw([{ offset: 0, room: 8, data: { b64: 'AQ==' } }]))).toBeDefined();
    expect(checkSchema('clientMessage', raw([{ offset: 0, room: 8, extra: 1 }]))?.field).toBe('arg.ptrs.0.extra');
    expect(checkSchema('result_ioctl', { ret: 0, errno: 0, ptrs: [{ data: { b64: 'AQ==' }, ptrs: [{}] }] })?.field).toBe('ptrs.0.ptrs.0.data');
    expect(checkSchema('batchItem', { id: 4, op: 'capabilities' })?.field).toBe('id');
    expect(checkSchema('result_ioctl', { ret: 0 })?.field).toBe('errno');
    expect(checkSchema('serverMessage', { id: 1, ok: true })?.field).toBe('result');
  });
});
