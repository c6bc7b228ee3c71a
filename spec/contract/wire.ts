/**
 * The wire form of contract v1 (JSON lines) and its conversion to and from the
 * TypeScript form in types.ts.
 *
 * Encoding rules (ADAPTER.md "Values on the wire"):
 *  - every bigint (u64 and pointer struct fields, IOVAs, lengths typed bigint)
 *    is a decimal string; "0x…" hex is accepted on input;
 *  - every Uint8Array is {"b64": "<standard base64>"};
 *  - numbers stay JSON numbers; in a struct value a string is always a bigint;
 *  - a pointer argument is exactly {"data": bytes} or {"room": n}.
 *
 * Conversion from the wire checks shapes as it goes and throws WireFormatError
 * naming the offending field, so it is safe on unvalidated input too (the
 * transports validate against the JSON Schema first, which gives the same
 * field paths).
 */
import { match } from 'ts-pattern';
import type {
  Capabilities,
  DeviceSpec,
  DmaResult,
  FieldValue,
  IoctlArg,
  IoctlResult,
  IommuInstanceInfo,
  KvmState,
  PointerArg,
  Profile,
  RawPointerPatch,
  RawPointerResult,
  ProtocolError,
  Request,
  Response,
  Results,
  SingleRequest,
  StructValue,
  Support,
  TranslateResult,
} from './types.ts';
import { CONTRACT_VERSION } from './types.ts';
import { ENVIRONMENT_OPS } from './ops.ts';

export type Json = null | boolean | number | string | readonly Json[] | JsonObject;
export type JsonObject = { readonly [key: string]: Json };

/** A wire value that does not have the shape its field needs. */
export class WireFormatError extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(message);
    this.name = 'WireFormatError';
  }
}

const PROFILES: readonly Profile[] = ['6.12', '7.3'];
const PROTOCOL_CODES: readonly ProtocolError['code'][] = ['unsupported', 'bad-request', 'bad-handle', 'internal'];

function join(prefix: string, key: string | number): string {
  return prefix === '' ? String(key) : `${prefix}.${key}`;
}

function fail(field: string, what: string): never {
  throw new WireFormatError(field, `field '${field === '' ? '(message)' : field}' ${what}`);
}

// ---------------------------------------------------------------------------
// Scalars

const DECIMAL = /^-?(0|[1-9][0-9]*)$/;
const HEX = /^0[xX][0-9a-fA-F]+$/;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

export function bigintToWire(value: bigint): string {
  return value.toString(10);
}

const U64_MAX = (1n << 64n) - 1n;
const S64_MIN = -(1n << 63n);

/** A u64 (or, with signed, an integer in [-2^63, 2^64-1]) from its wire string. */
export function bigintFromWire(value: Json | undefined, field: string, signed = false): bigint {
  if (typeof value !== 'string' || !(DECIMAL.test(value) || HEX.test(value))) {
    fail(field, 'must be an integer string (decimal, or 0x-prefixed hex)');
  }
  const n = BigInt(value);
  if (n > U64_MAX || n < (signed ? S64_MIN : 0n)) fail(field, signed ? 'is out of range [-2^63, 2^64-1]' : 'is out of the u64 range');
  return n;
}

export function bytesToWire(bytes: Uint8Array, field = 'data'): JsonObject {
  if (shapeOnly) return { b64: bytes instanceof Uint8Array ? '' : (bytes as unknown as Json) };
  if (!(bytes instanceof Uint8Array)) fail(field, 'must be bytes (a Uint8Array)');
  return { b64: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64') };
}

/** Set while shapeToWire runs. */
let shapeOnly = false;

/**
 * `convert()` with every byte string put on the wire as the empty string: for
 * a message converted only to be checked against the schema (an in-process
 * implementation's traffic). Any Uint8Array encodes to valid base64 and the
 * schema bounds no length, so the check is the same, without encoding (and
 * matching a pattern over) the pages a probe reads, a twentieth of a checked
 * run. Whatever is not a Uint8Array goes through as it is, for the schema to
 * name.
 */
export function shapeToWire<T>(convert: () => T): T {
  const outer = shapeOnly;
  shapeOnly = true;
  try {
    return convert();
  } finally {
    shapeOnly = outer;
  }
}

export function bytesFromWire(value: Json | undefined, field: string): Uint8Array {
  if (!isObject(value) || Object.keys(value).length !== 1 || typeof value['b64'] !== 'string') {
    fail(field, 'must be a bytes object {"b64": "..."}');
  }
  const b64 = value['b64'];
  if (typeof b64 !== 'string' || !BASE64.test(b64)) fail(join(field, 'b64'), 'must be standard base64 with padding');
  return new Uint8Array(Buffer.from(b64, 'base64'));
}

function isObject(value: Json | undefined): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function obj(value: Json | undefined, field: string): JsonObject {
  if (!isObject(value)) fail(field, 'must be an object');
  return value;
}

function int(o: JsonObject, key: string, field: string): number {
  const v = o[key];
  if (typeof v !== 'number' || !Number.isSafeInteger(v)) fail(join(field, key), 'must be an integer');
  return v;
}

function optInt(o: JsonObject, key: string, field: string): number | undefined {
  return o[key] === undefined ? undefined : int(o, key, field);
}

function str(o: JsonObject, key: string, field: string): string {
  const v = o[key];
  if (typeof v !== 'string') fail(join(field, key), 'must be a string');
  return v;
}

function bool(o: JsonObject, key: string, field: string): boolean {
  const v = o[key];
  if (typeof v !== 'boolean') fail(join(field, key), 'must be a boolean');
  return v;
}

function optBool(o: JsonObject, key: string, field: string): boolean | undefined {
  return o[key] === undefined ? undefined : bool(o, key, field);
}

function big(o: JsonObject, key: string, field: string): bigint {
  return bigintFromWire(o[key], join(field, key));
}

function bytes(o: JsonObject, key: string, field: string): Uint8Array {
  return bytesFromWire(o[key], join(field, key));
}

function optBytes(o: JsonObject, key: string, field: string): Uint8Array | undefined {
  return o[key] === undefined ? undefined : bytes(o, key, field);
}

function oneOf<T extends string>(o: JsonObject, key: string, field: string, allowed: readonly T[]): T {
  const v = o[key];
  const found = allowed.find((a) => a === v);
  if (found === undefined) fail(join(field, key), `must be one of ${allowed.map((a) => JSON.stringify(a)).join(', ')}`);
  return found;
}

function arr(o: JsonObject, key: string, field: string): readonly Json[] {
  const v = o[key];
  if (!Array.isArray(v)) fail(join(field, key), 'must be an array');
  return v as readonly Json[];
}

/** Keep only the keys whose value is defined (optional fields are left out on the wire). */
function defined(entries: Record<string, Json | undefined>): JsonObject {
  const out: Record<string, Json> = {};
  for (const [k, v] of Object.entries(entries)) if (v !== undefined) out[k] = v;
  return out;
}

// ---------------------------------------------------------------------------
// Struct values and pointer arguments

export function isPointerArg(value: FieldValue): value is PointerArg {
  if (typeof value !== 'object' || Array.isArray(value)) return false;
  const keys = Object.keys(value);
  if (keys.length !== 1) return false;
  if (keys[0] === 'data') return (value as { data: unknown }).data instanceof Uint8Array;
  if (keys[0] === 'room') return typeof (value as { room: unknown }).room === 'number';
  return false;
}

function fieldValueToWire(value: FieldValue): Json {
  if (typeof value === 'number') return value;
  if (typeof value === 'bigint') return bigintToWire(value);
  if (Array.isArray(value)) return (value as readonly FieldValue[]).map(fieldValueToWire);
  if (isPointerArg(value)) return 'data' in value ? { data: bytesToWire(value.data) } : { room: value.room };
  return structToWire(value as StructValue);
}

// Objects keyed by user-chosen names are built with fromEntries, so a key such
// as "__proto__" stays an ordinary own property.
export function structToWire(value: StructValue): JsonObject {
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, fieldValueToWire(v)]));
}

function fieldValueFromWire(value: Json | undefined, field: string): FieldValue {
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value)) fail(field, 'must be an integer');
    return value;
  }
  if (typeof value === 'string') return bigintFromWire(value, field);
  if (Array.isArray(value)) return (value as readonly Json[]).map((v, i) => fieldValueFromWire(v, join(field, i)));
  if (isObject(value)) {
    const keys = Object.keys(value);
    const inner = value['data'];
    if (keys.length === 1 && keys[0] === 'data' && isObject(inner) && Object.keys(inner).join() === 'b64') return { data: bytes(value, 'data', field) };
    if (keys.length === 1 && keys[0] === 'room') {
      const room = int(value, 'room', field);
      if (room < 0) fail(join(field, 'room'), 'must be >= 0');
      return { room };
    }
    return structFromWire(value, field);
  }
  return fail(field, 'must be a number, an integer string, an array, a pointer argument or a struct');
}

export function structFromWire(value: Json | undefined, field: string): StructValue {
  const o = obj(value, field);
  return Object.fromEntries(Object.entries(o).map(([k, v]) => [k, fieldValueFromWire(v, join(field, k))]));
}

// ---------------------------------------------------------------------------
// Requests

function ioctlArgToWire(arg: IoctlArg): JsonObject {
  return match(arg)
    .with({ kind: 'struct' }, (a) =>
      defined({
        kind: 'struct',
        fields: structToWire(a.fields),
        tail: a.tail === undefined ? undefined : bytesToWire(a.tail, 'arg.tail'),
        truncate: a.truncate,
        readOnly: a.readOnly,
      }),
    )
    .with({ kind: 'raw' }, (a) => defined({ kind: 'raw', bytes: bytesToWire(a.bytes, 'arg.bytes'), ptrs: a.ptrs?.map(patchToWire), readOnly: a.readOnly }))
    .with({ kind: 'int' }, (a) => ({ kind: 'int', value: bigintToWire(a.value) }))
    .with({ kind: 'null' }, () => ({ kind: 'null' }))
    .with({ kind: 'fault' }, () => ({ kind: 'fault' }))
    .exhaustive();
}

function patchToWire(p: RawPointerPatch): JsonObject {
  return defined({
    offset: p.offset,
    data: 'data' in p ? bytesToWire(p.data) : undefined,
    room: 'room' in p ? p.room : undefined,
    ptrs: p.ptrs?.map(patchToWire),
  });
}

/** The `ptrs` of a raw argument or of a patch (ADAPTER.md §3.3). */
function patchesFromWire(parent: JsonObject, field: string): RawPointerPatch[] {
  const f = join(field, 'ptrs');
  return arr(parent, 'ptrs', field).map((v, i) => {
    const item = obj(v, join(f, i));
    const at = join(f, i);
    const offset = int(item, 'offset', at);
    if (offset < 0) fail(join(at, 'offset'), 'must be >= 0');
    const ptrs = item['ptrs'] === undefined ? undefined : patchesFromWire(item, at);
    const nested = ptrs !== undefined && { ptrs };
    if (item['data'] !== undefined) {
      if (item['room'] !== undefined) fail(at, "a pointer patch has 'data' or 'room', not both");
      return { offset, data: bytes(item, 'data', at), ...nested };
    }
    const room = int(item, 'room', at);
    if (room < 0) fail(join(at, 'room'), 'must be >= 0');
    return { offset, room, ...nested };
  });
}

function patchResultToWire(r: RawPointerResult): JsonObject {
  return defined({ data: bytesToWire(r.data), ptrs: r.ptrs?.map(patchResultToWire) });
}

function patchResultsFromWire(parent: JsonObject, field: string): RawPointerResult[] {
  const f = join(field, 'ptrs');
  return arr(parent, 'ptrs', field).map((v, i) => {
    const item = obj(v, join(f, i));
    const ptrs = item['ptrs'] === undefined ? undefined : patchResultsFromWire(item, join(f, i));
    return { data: bytes(item, 'data', join(f, i)), ...(ptrs !== undefined && { ptrs }) };
  });
}

function ioctlArgFromWire(value: Json | undefined, field: string): IoctlArg {
  const o = obj(value, field);
  const kind = oneOf(o, 'kind', field, ['struct', 'raw', 'int', 'null', 'fault'] as const);
  return match(kind)
    .with('struct', (): IoctlArg => {
      const tail = optBytes(o, 'tail', field);
      const truncate = optInt(o, 'truncate', field);
      const readOnly = optBool(o, 'readOnly', field);
      return {
        kind: 'struct',
        fields: structFromWire(o['fields'], join(field, 'fields')),
        ...(tail !== undefined && { tail }),
        ...(truncate !== undefined && { truncate }),
        ...(readOnly !== undefined && { readOnly }),
      };
    })
    .with('raw', (): IoctlArg => {
      const ptrs = o['ptrs'] === undefined ? undefined : patchesFromWire(o, field);
      const readOnly = optBool(o, 'readOnly', field);
      return { kind: 'raw', bytes: bytes(o, 'bytes', field), ...(ptrs !== undefined && { ptrs }), ...(readOnly !== undefined && { readOnly }) };
    })
    .with('int', (): IoctlArg => ({ kind: 'int', value: bigintFromWire(o['value'], join(field, 'value'), true) }))
    .with('null', (): IoctlArg => ({ kind: 'null' }))
    .with('fault', (): IoctlArg => ({ kind: 'fault' }))
    .exhaustive();
}

function deviceSpecToWire(spec: DeviceSpec): JsonObject {
  return defined({
    iommu: spec.iommu,
    group: spec.group,
    pasidWidth: spec.pasidWidth,
    dirtyTracking: spec.dirtyTracking,
    enforceCacheCoherency: spec.enforceCacheCoherency,
    noSnoop: spec.noSnoop,
    hugeIova: spec.hugeIova,
    reservedRegions: spec.reservedRegions?.map((r) => ({ start: bigintToWire(r.start), last: bigintToWire(r.last) })),
  });
}

function deviceSpecFromWire(value: Json | undefined, field: string): DeviceSpec {
  const o = obj(value, field);
  const group = optInt(o, 'group', field);
  const pasidWidth = optInt(o, 'pasidWidth', field);
  const dirtyTracking = optBool(o, 'dirtyTracking', field);
  const enforceCacheCoherency = optBool(o, 'enforceCacheCoherency', field);
  const noSnoop = optBool(o, 'noSnoop', field);
  const hugeIova = optBool(o, 'hugeIova', field);
  const reservedRegions =
    o['reservedRegions'] === undefined
      ? undefined
      : arr(o, 'reservedRegions', field).map((r, i) => {
          const f = join(join(field, 'reservedRegions'), i);
          const ro = obj(r, f);
          return { start: big(ro, 'start', f), last: big(ro, 'last', f) };
        });
  return {
    iommu: str(o, 'iommu', field),
    ...(group !== undefined && { group }),
    ...(pasidWidth !== undefined && { pasidWidth }),
    ...(dirtyTracking !== undefined && { dirtyTracking }),
    ...(enforceCacheCoherency !== undefined && { enforceCacheCoherency }),
    ...(noSnoop !== undefined && { noSnoop }),
    ...(hugeIova !== undefined && { hugeIova }),
    ...(reservedRegions !== undefined && { reservedRegions }),
  };
}

/** A request of one op. */
type RequestOf<O extends Request['op']> = Extract<Request, { op: O }>;

/** Each request's wire form, by op: typed over every op, so a missing op does not compile (and costs no matching). */
const REQUEST_TO_WIRE: { readonly [O in Request['op']]: (r: RequestOf<O>) => JsonObject } = {
  capabilities: () => ({ op: 'capabilities' }),
  open: (r) => ({ op: 'open', node: r.node }),
  open_device: (r) => ({ op: 'open_device', device: r.device }),
  close: (r) => ({ op: 'close', fd: r.fd }),
  ioctl: (r) => ({ op: 'ioctl', fd: r.fd, cmd: r.cmd, arg: ioctlArgToWire(r.arg) }),
  read: (r) => defined({ op: 'read', fd: r.fd, count: r.count, offset: r.offset }),
  write: (r) => defined({ op: 'write', fd: r.fd, data: bytesToWire(r.data), offset: r.offset }),
  poll: (r) => ({ op: 'poll', fd: r.fd, events: r.events }),
  set_process: (r) =>
    defined({
      op: 'set_process',
      rlimitMemlock: r.rlimitMemlock === undefined ? undefined : r.rlimitMemlock === null ? null : bigintToWire(r.rlimitMemlock),
      capIpcLock: r.capIpcLock,
      capSysResource: r.capSysResource,
    }),
  process_info: () => ({ op: 'process_info' }),
  mem_alloc: (r) => defined({ op: 'mem_alloc', length: r.length, prot: r.prot, hugeAligned: r.hugeAligned }),
  mem_write: (r) => ({ op: 'mem_write', buffer: r.buffer, offset: r.offset, data: bytesToWire(r.data) }),
  mem_read: (r) => ({ op: 'mem_read', buffer: r.buffer, offset: r.offset, length: r.length }),
  mem_unmap: (r) => ({ op: 'mem_unmap', buffer: r.buffer, offset: r.offset, length: r.length }),
  mem_protect: (r) => ({ op: 'mem_protect', buffer: r.buffer, offset: r.offset, length: r.length, prot: r.prot }),
  device_create: (r) => ({ op: 'device_create', spec: deviceSpecToWire(r.spec) }),
  device_remove: (r) => ({ op: 'device_remove', device: r.device }),
  dma: (r) =>
    defined({
      op: 'dma',
      device: r.device,
      pasid: r.pasid,
      iova: bigintToWire(r.iova),
      dir: r.dir,
      data: r.data === undefined ? undefined : bytesToWire(r.data),
      length: r.length,
    }),
  translate: (r) => defined({ op: 'translate', device: r.device, pasid: r.pasid, iova: bigintToWire(r.iova) }),
  pin_count: (r) => ({ op: 'pin_count', buffer: r.buffer, offset: r.offset, length: r.length }),
  iotlb: (r) => ({ op: 'iotlb', iommu: r.iommu }),
  kvm_create: () => ({ op: 'kvm_create' }),
  kvm_destroy: (r) => ({ op: 'kvm_destroy', vm: r.vm }),
  kvm_vfio_add: (r) => ({ op: 'kvm_vfio_add', vm: r.vm, fd: r.fd }),
  kvm_vfio_del: (r) => ({ op: 'kvm_vfio_del', vm: r.vm, fd: r.fd }),
  kvm_state: (r) => ({ op: 'kvm_state', vm: r.vm }),
  fail_nth: (r) => ({ op: 'fail_nth', nth: r.nth }),
  reset: () => ({ op: 'reset' }),
  batch: (r) => ({ op: 'batch', requests: r.requests.map(requestToWire) }),
};

/** A request in wire form, without its id. */
export function requestToWire(req: Request): JsonObject {
  return (REQUEST_TO_WIRE[req.op] as (r: Request) => JsonObject)(req);
}

/** Known ops of the wire form that requestFromWire turns into a Request. */
const REQUEST_OPS = ['batch', 'capabilities', ...ENVIRONMENT_OPS] as const;
type WireOp = (typeof REQUEST_OPS)[number];

/** Each request from its wire object, by op (`f` prefixes error paths). */
const REQUEST_FROM_WIRE: { readonly [O in WireOp]: (o: JsonObject, f: string, inBatch: boolean) => Request } = {
  capabilities: () => ({ op: 'capabilities' }),
  open: (o, f) => ({ op: 'open', node: oneOf(o, 'node', f, ['iommu', 'vfio'] as const) }),
  open_device: (o, f) => ({ op: 'open_device', device: int(o, 'device', f) }),
  close: (o, f) => ({ op: 'close', fd: int(o, 'fd', f) }),
  ioctl: (o, f) => {
    const cmd = o['cmd'];
    if (typeof cmd !== 'string' && !(typeof cmd === 'number' && Number.isSafeInteger(cmd))) fail(join(f, 'cmd'), 'must be a command name or an integer');
    return { op: 'ioctl', fd: int(o, 'fd', f), cmd, arg: ioctlArgFromWire(o['arg'], join(f, 'arg')) };
  },
  read: (o, f) => {
    const offset = optInt(o, 'offset', f);
    return { op: 'read', fd: int(o, 'fd', f), count: int(o, 'count', f), ...(offset !== undefined && { offset }) };
  },
  write: (o, f) => {
    const offset = optInt(o, 'offset', f);
    return { op: 'write', fd: int(o, 'fd', f), data: bytes(o, 'data', f), ...(offset !== undefined && { offset }) };
  },
  poll: (o, f) => ({ op: 'poll', fd: int(o, 'fd', f), events: int(o, 'events', f) }),
  set_process: (o, f) => {
    const capIpcLock = optBool(o, 'capIpcLock', f);
    const capSysResource = optBool(o, 'capSysResource', f);
    const raw = o['rlimitMemlock'];
    const rlimitMemlock = raw === undefined ? undefined : raw === null ? null : big(o, 'rlimitMemlock', f);
    return {
      op: 'set_process',
      ...(rlimitMemlock !== undefined && { rlimitMemlock }),
      ...(capIpcLock !== undefined && { capIpcLock }),
      ...(capSysResource !== undefined && { capSysResource }),
    };
  },
  process_info: () => ({ op: 'process_info' }),
  mem_alloc: (o, f) => {
    const prot = o['prot'] === undefined ? undefined : oneOf(o, 'prot', f, ['rw', 'r'] as const);
    const hugeAligned = optBool(o, 'hugeAligned', f);
    return {
      op: 'mem_alloc',
      length: int(o, 'length', f),
      ...(prot !== undefined && { prot }),
      ...(hugeAligned !== undefined && { hugeAligned }),
    };
  },
  mem_write: (o, f) => ({ op: 'mem_write', buffer: int(o, 'buffer', f), offset: int(o, 'offset', f), data: bytes(o, 'data', f) }),
  mem_read: (o, f) => ({ op: 'mem_read', buffer: int(o, 'buffer', f), offset: int(o, 'offset', f), length: int(o, 'length', f) }),
  mem_unmap: (o, f) => ({ op: 'mem_unmap', buffer: int(o, 'buffer', f), offset: int(o, 'offset', f), length: int(o, 'length', f) }),
  mem_protect: (o, f) => ({
    op: 'mem_protect',
    buffer: int(o, 'buffer', f),
    offset: int(o, 'offset', f),
    length: int(o, 'length', f),
    prot: oneOf(o, 'prot', f, ['rw', 'r', 'none'] as const),
  }),
  device_create: (o, f) => ({ op: 'device_create', spec: deviceSpecFromWire(o['spec'], join(f, 'spec')) }),
  device_remove: (o, f) => ({ op: 'device_remove', device: int(o, 'device', f) }),
  dma: (o, f) => {
    const pasid = optInt(o, 'pasid', f);
    const data = optBytes(o, 'data', f);
    const length = optInt(o, 'length', f);
    return {
      op: 'dma',
      device: int(o, 'device', f),
      iova: big(o, 'iova', f),
      dir: oneOf(o, 'dir', f, ['read', 'write'] as const),
      ...(pasid !== undefined && { pasid }),
      ...(data !== undefined && { data }),
      ...(length !== undefined && { length }),
    };
  },
  translate: (o, f) => {
    const pasid = optInt(o, 'pasid', f);
    return { op: 'translate', device: int(o, 'device', f), iova: big(o, 'iova', f), ...(pasid !== undefined && { pasid }) };
  },
  pin_count: (o, f) => ({ op: 'pin_count', buffer: int(o, 'buffer', f), offset: int(o, 'offset', f), length: int(o, 'length', f) }),
  iotlb: (o, f) => ({ op: 'iotlb', iommu: str(o, 'iommu', f) }),
  kvm_create: () => ({ op: 'kvm_create' }),
  kvm_destroy: (o, f) => ({ op: 'kvm_destroy', vm: int(o, 'vm', f) }),
  kvm_vfio_add: (o, f) => ({ op: 'kvm_vfio_add', vm: int(o, 'vm', f), fd: int(o, 'fd', f) }),
  kvm_vfio_del: (o, f) => ({ op: 'kvm_vfio_del', vm: int(o, 'vm', f), fd: int(o, 'fd', f) }),
  kvm_state: (o, f) => ({ op: 'kvm_state', vm: int(o, 'vm', f) }),
  fail_nth: (o, f) => ({ op: 'fail_nth', nth: int(o, 'nth', f) }),
  reset: () => ({ op: 'reset' }),
  batch: (o, f, inBatch) => {
    if (inBatch) fail(join(f, 'op'), 'a batch cannot contain a batch');
    return { op: 'batch', requests: arr(o, 'requests', f).map((r, i) => requestFromWire(r, join(join(f, 'requests'), i), true)) };
  },
};

/**
 * A request from its wire form (the `id` is ignored). `field` prefixes error
 * paths (batch items: "requests.3"). Nested batches are refused: a batch is
 * one level deep.
 */
export function requestFromWire(value: Json | undefined, field = '', inBatch = false): Request {
  const o = obj(value, field);
  return REQUEST_FROM_WIRE[oneOf(o, 'op', field, REQUEST_OPS)](o, field, inBatch);
}

// ---------------------------------------------------------------------------
// Results

function supportToWire(s: Support): JsonObject {
  return s.supported ? { supported: true } : { supported: false, reason: s.reason };
}

function supportFromWire(value: Json | undefined, field: string): Support {
  const o = obj(value, field);
  return bool(o, 'supported', field) ? { supported: true } : { supported: false, reason: str(o, 'reason', field) };
}

function supportMapToWire(m: { readonly [k: string]: Support | undefined }): JsonObject {
  return Object.fromEntries(Object.entries(m).flatMap(([k, v]) => (v === undefined ? [] : [[k, supportToWire(v)]])));
}

function supportMapFromWire(value: Json | undefined, field: string): Record<string, Support> {
  const o = obj(value, field);
  return Object.fromEntries(Object.entries(o).map(([k, v]) => [k, supportFromWire(v, join(field, k))]));
}

function iommuToWire(i: IommuInstanceInfo): JsonObject {
  return {
    name: i.name,
    format: i.format,
    pgsizeBitmap: bigintToWire(i.pgsizeBitmap),
    apertureStart: bigintToWire(i.apertureStart),
    apertureLast: bigintToWire(i.apertureLast),
    enforceCacheCoherency: i.enforceCacheCoherency,
    dirtyTracking: i.dirtyTracking,
    maxPasidLog2: i.maxPasidLog2,
    nesting: i.nesting,
    ...(i.reservedRegions && { reservedRegions: i.reservedRegions.map((r) => ({ start: bigintToWire(r.start), last: bigintToWire(r.last) })) }),
  };
}

function iommuFromWire(value: Json | undefined, f: string): IommuInstanceInfo {
  const o = obj(value, f);
  return {
    name: str(o, 'name', f),
    format: str(o, 'format', f),
    pgsizeBitmap: big(o, 'pgsizeBitmap', f),
    apertureStart: big(o, 'apertureStart', f),
    apertureLast: big(o, 'apertureLast', f),
    enforceCacheCoherency: bool(o, 'enforceCacheCoherency', f),
    dirtyTracking: bool(o, 'dirtyTracking', f),
    maxPasidLog2: int(o, 'maxPasidLog2', f),
    nesting: bool(o, 'nesting', f),
    ...(o['reservedRegions'] !== undefined && {
      reservedRegions: arr(o, 'reservedRegions', f).map((r, k) => {
        const at = join(f, `reservedRegions.${k}`);
        const x = obj(r, at);
        return { start: big(x, 'start', at), last: big(x, 'last', at) };
      }),
    }),
  };
}

const DEVICE_FEATURES = ['multiDeviceGroups', 'pasid', 'dirtyTracking', 'enforceCacheCoherency', 'noSnoop', 'hugeIova', 'reservedRegions'] as const;

function capabilitiesToWire(c: Capabilities): JsonObject {
  const features: Record<string, Json> = {};
  for (const k of DEVICE_FEATURES) features[k] = supportToWire(c.deviceFeatures[k]);
  return {
    contract: c.contract,
    implementation: { name: c.implementation.name, version: c.implementation.version },
    profile: c.profile,
    commands: supportMapToWire(c.commands),
    testOps: supportMapToWire(c.testOps),
    ops: supportMapToWire(c.ops),
    deviceFeatures: features,
    iommus: c.iommus.map(iommuToWire),
    ...(c.rawPointerPatches !== undefined && { rawPointerPatches: supportToWire(c.rawPointerPatches) }),
    ...(c.readOnlyArgs !== undefined && { readOnlyArgs: supportToWire(c.readOnlyArgs) }),
    ...(c.features !== undefined && { features: supportMapToWire(c.features) }),
  };
}

function capabilitiesFromWire(value: Json | undefined, f: string): Capabilities {
  const o = obj(value, f);
  if (o['contract'] !== CONTRACT_VERSION) fail(join(f, 'contract'), `must be ${CONTRACT_VERSION}`);
  const impl = obj(o['implementation'], join(f, 'implementation'));
  const ops = supportMapFromWire(o['ops'], join(f, 'ops'));
  for (const k of Object.keys(ops)) {
    if (!(ENVIRONMENT_OPS as readonly string[]).includes(k)) fail(join(join(f, 'ops'), k), 'is not an op of contract v1');
  }
  const ff = join(f, 'deviceFeatures');
  const fo = obj(o['deviceFeatures'], ff);
  const feature = (k: (typeof DEVICE_FEATURES)[number]): Support => supportFromWire(fo[k], join(ff, k));
  return {
    contract: CONTRACT_VERSION,
    implementation: { name: str(impl, 'name', join(f, 'implementation')), version: str(impl, 'version', join(f, 'implementation')) },
    profile: oneOf(o, 'profile', f, PROFILES),
    commands: supportMapFromWire(o['commands'], join(f, 'commands')),
    testOps: supportMapFromWire(o['testOps'], join(f, 'testOps')),
    ops,
    deviceFeatures: {
      multiDeviceGroups: feature('multiDeviceGroups'),
      pasid: feature('pasid'),
      dirtyTracking: feature('dirtyTracking'),
      enforceCacheCoherency: feature('enforceCacheCoherency'),
      noSnoop: feature('noSnoop'),
      hugeIova: feature('hugeIova'),
      reservedRegions: feature('reservedRegions'),
  },
    iommus: arr(o, 'iommus', f).map((v, i) => iommuFromWire(v, join(join(f, 'iommus'), i))),
    ...(o['rawPointerPatches'] !== undefined && { rawPointerPatches: supportFromWire(o['rawPointerPatches'], join(f, 'rawPointerPatches')) }),
    ...(o['readOnlyArgs'] !== undefined && { readOnlyArgs: supportFromWire(o['readOnlyArgs'], join(f, 'readOnlyArgs')) }),
    ...(o['features'] !== undefined && { features: supportMapFromWire(o['features'], join(f, 'features')) }),
  };
}

function ioctlResultToWire(r: IoctlResult): JsonObject {
  const buffers = r.buffers === undefined ? undefined : Object.fromEntries(Object.entries(r.buffers).map(([k, v]) => [k, bytesToWire(v, `buffers.${k}`)]));
  return defined({
    ret: r.ret,
    errno: r.errno,
    out: r.out === undefined ? undefined : structToWire(r.out),
    bytes: r.bytes === undefined ? undefined : bytesToWire(r.bytes, 'bytes'),
    buffers,
    ptrs: r.ptrs?.map(patchResultToWire),
  });
}

function ioctlResultFromWire(o: JsonObject, f: string): IoctlResult {
  const out = o['out'] === undefined ? undefined : structFromWire(o['out'], join(f, 'out'));
  const raw = optBytes(o, 'bytes', f);
  let buffers: Record<string, Uint8Array> | undefined;
  if (o['buffers'] !== undefined) {
    const bo = obj(o['buffers'], join(f, 'buffers'));
    buffers = Object.fromEntries(Object.keys(bo).map((k) => [k, bytes(bo, k, join(f, 'buffers'))]));
  }
  const ptrs = o['ptrs'] === undefined ? undefined : patchResultsFromWire(o, f);
  return {
    ret: int(o, 'ret', f),
    errno: int(o, 'errno', f),
    ...(out !== undefined && { out }),
    ...(raw !== undefined && { bytes: raw }),
    ...(buffers !== undefined && { buffers }),
    ...(ptrs !== undefined && { ptrs }),
  };
}

function dmaResultToWire(r: DmaResult): JsonObject {
  return defined({
    ok: r.ok,
    data: r.data === undefined ? undefined : bytesToWire(r.data),
    fault: r.fault,
    touched: r.touched?.map((t) => ({ buffer: t.buffer, offset: t.offset, length: t.length })),
  });
}

function dmaResultFromWire(o: JsonObject, f: string): DmaResult {
  const data = optBytes(o, 'data', f);
  const fault = o['fault'] === undefined ? undefined : oneOf(o, 'fault', f, ['unmapped', 'permission', 'blocked'] as const);
  const touched =
    o['touched'] === undefined
      ? undefined
      : arr(o, 'touched', f).map((t, i) => {
          const tf = join(join(f, 'touched'), i);
          const to = obj(t, tf);
          return { buffer: int(to, 'buffer', tf), offset: int(to, 'offset', tf), length: int(to, 'length', tf) };
        });
  return {
    ok: bool(o, 'ok', f),
    ...(data !== undefined && { data }),
    ...(fault !== undefined && { fault }),
    ...(touched !== undefined && { touched }),
  };
}

function translateFromWire(o: JsonObject, f: string): TranslateResult {
  const buffer = optInt(o, 'buffer', f);
  const offset = optInt(o, 'offset', f);
  const read = optBool(o, 'read', f);
  const write = optBool(o, 'write', f);
  return {
    mapped: bool(o, 'mapped', f),
    ...(buffer !== undefined && { buffer }),
    ...(offset !== undefined && { offset }),
    ...(read !== undefined && { read }),
    ...(write !== undefined && { write }),
  };
}

function kvmStateFromWire(o: JsonObject, f: string): KvmState {
  return {
    noncoherentDma: bool(o, 'noncoherentDma', f),
    registeredFds: arr(o, 'registeredFds', f).map((v, i) => {
      if (typeof v !== 'number' || !Number.isSafeInteger(v)) fail(join(join(f, 'registeredFds'), i), 'must be an integer');
      return v;
    }),
  };
}

function syscallFromWire(o: JsonObject, f: string): { ret: number; errno: number } {
  return { ret: int(o, 'ret', f), errno: int(o, 'errno', f) };
}

function openFromWire(o: JsonObject, f: string): { fd: number; errno?: number } {
  const errno = optInt(o, 'errno', f);
  return { fd: int(o, 'fd', f), ...(errno !== undefined && { errno }) };
}

function emptyFromWire(o: JsonObject, f: string): Record<string, never> {
  const extra = Object.keys(o)[0];
  if (extra !== undefined) fail(join(f, extra), 'is not allowed here');
  return {};
}

type AnyResult = Results[keyof Results];

const syscallToWire = (r: { readonly ret: number; readonly errno?: number }): JsonObject => defined({ ret: r.ret, errno: r.errno });
const openToWire = (r: { readonly fd: number; readonly errno?: number }): JsonObject => defined({ fd: r.fd, errno: r.errno });
const emptyToWire = (): JsonObject => ({});

/**
 * Each result's wire form, by the op of the request it answers: typed over
 * every op, so a missing op does not compile. A record, not a match: this
 * runs for every response on the wire and for every in-process result checked
 * against the schema, and matching the pair pattern by pattern was a tenth of
 * a mutant run.
 */
const RESULT_TO_WIRE: { readonly [O in keyof Results]: (result: Results[O], request: RequestOf<O>) => JsonObject } = {
  capabilities: (r) => capabilitiesToWire(r),
  open: openToWire,
  open_device: openToWire,
  close: syscallToWire,
  write: syscallToWire,
  kvm_vfio_add: syscallToWire,
  kvm_vfio_del: syscallToWire,
  ioctl: (r) => ioctlResultToWire(r),
  read: (r) => defined({ ret: r.ret, errno: r.errno, data: r.data === undefined ? undefined : bytesToWire(r.data) }),
  poll: (r) => ({ revents: r.revents }),
  set_process: emptyToWire,
  mem_write: emptyToWire,
  mem_unmap: emptyToWire,
  mem_protect: emptyToWire,
  device_remove: emptyToWire,
  kvm_destroy: emptyToWire,
  fail_nth: emptyToWire,
  reset: emptyToWire,
  process_info: (r) => ({ lockedVmPages: r.lockedVmPages, pinnedVmPages: r.pinnedVmPages }),
  mem_alloc: (r) => ({ buffer: r.buffer, va: bigintToWire(r.va), length: r.length }),
  mem_read: (r) => ({ data: bytesToWire(r.data) }),
  device_create: (r) => ({ device: r.device, group: r.group }),
  dma: (r) => dmaResultToWire(r),
  translate: (r) => defined({ mapped: r.mapped, buffer: r.buffer, offset: r.offset, read: r.read, write: r.write }),
  pin_count: (r) => ({ pins: [...r.pins] }),
  iotlb: (r) => ({ entries: r.entries.map((e) => ({ tag: e.tag, iova: bigintToWire(e.iova), pa: bigintToWire(e.pa), size: e.size, perm: e.perm })) }),
  kvm_create: (r) => ({ vm: r.vm }),
  kvm_state: (r) => ({ noncoherentDma: r.noncoherentDma, registeredFds: [...r.registeredFds] }),
  batch: (r, request) => ({
    responses: r.responses.map((x, i) => {
      const inner = request.requests[i];
      if (inner === undefined) throw new WireFormatError(`responses.${i}`, 'batch answered more responses than requests');
      return responseToWire(inner, x);
    }),
  }),
};

/** A successful result in wire form, for the request it answers. */
export function resultToWire(request: Request, result: AnyResult): JsonObject {
  // Indexed by request.op, the entry takes that op's result and request (the caller pairs them).
  return (RESULT_TO_WIRE[request.op] as (result: AnyResult, request: Request) => JsonObject)(result, request);
}
const emptyResultFromWire = (o: JsonObject, f: string): Record<string, never> => emptyFromWire(o, f);

/** Each result from its wire object, by the op of the request it answers (`f` prefixes error paths). */
const RESULT_FROM_WIRE: { readonly [O in keyof Results]: (o: JsonObject, f: string, request: RequestOf<O>) => Results[O] } = {
  capabilities: (o, f) => capabilitiesFromWire(o, f),
  open: openFromWire,
  open_device: openFromWire,
  close: syscallFromWire,
  write: syscallFromWire,
  kvm_vfio_add: syscallFromWire,
  kvm_vfio_del: syscallFromWire,
  ioctl: ioctlResultFromWire,
  read: (o, f) => {
    const data = optBytes(o, 'data', f);
    return { ...syscallFromWire(o, f), ...(data !== undefined && { data }) };
  },
  poll: (o, f) => ({ revents: int(o, 'revents', f) }),
  set_process: emptyResultFromWire,
  mem_write: emptyResultFromWire,
  mem_unmap: emptyResultFromWire,
  mem_protect: emptyResultFromWire,
  device_remove: emptyResultFromWire,
  kvm_destroy: emptyResultFromWire,
  fail_nth: emptyResultFromWire,
  reset: emptyResultFromWire,
  process_info: (o, f) => ({ lockedVmPages: int(o, 'lockedVmPages', f), pinnedVmPages: int(o, 'pinnedVmPages', f) }),
  mem_alloc: (o, f) => ({ buffer: int(o, 'buffer', f), va: big(o, 'va', f), length: int(o, 'length', f) }),
  mem_read: (o, f) => ({ data: bytes(o, 'data', f) }),
  device_create: (o, f) => ({ device: int(o, 'device', f), group: int(o, 'group', f) }),
  dma: dmaResultFromWire,
  translate: translateFromWire,
  pin_count: (o, f) => ({
    pins: arr(o, 'pins', f).map((v, i) => {
      if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) fail(join(join(f, 'pins'), i), 'must be a count');
      return v;
    }),
  }),
  iotlb: (o, f) => ({
    entries: arr(o, 'entries', f).map((v, i) => {
      const ef = join(join(f, 'entries'), i);
      const e = obj(v, ef);
      return { tag: str(e, 'tag', ef), iova: big(e, 'iova', ef), pa: big(e, 'pa', ef), size: int(e, 'size', ef), perm: oneOf(e, 'perm', ef, ['r', 'w', 'rw'] as const) };
    }),
  }),
  kvm_create: (o, f) => ({ vm: int(o, 'vm', f) }),
  kvm_state: kvmStateFromWire,
  batch: (o, f, r) => {
    const items = arr(o, 'responses', f);
    if (items.length !== r.requests.length) {
      fail(join(f, 'responses'), `has ${items.length} responses for ${r.requests.length} requests`);
    }
    return {
      responses: items.map((item, i) => {
        const inner = r.requests[i];
        if (inner === undefined) return fail(join(join(f, 'responses'), i), 'answers no request');
        return responseFromWire(inner, item, join(join(f, 'responses'), i));
      }),
    };
  },
};

/** A successful result from its wire form, for the request it answers. */
export function resultFromWire(request: Request, value: Json | undefined, field = 'result'): AnyResult {
  const o = obj(value, field);
  return (RESULT_FROM_WIRE[request.op] as (o: JsonObject, f: string, request: Request) => AnyResult)(o, field, request);
}

// ---------------------------------------------------------------------------
// Responses and errors

export function protocolErrorToWire(e: ProtocolError): JsonObject {
  return defined({ code: e.code, message: e.message, field: e.field });
}

export function protocolErrorFromWire(value: Json | undefined, f: string): ProtocolError {
  const o = obj(value, f);
  const field = o['field'] === undefined ? undefined : str(o, 'field', f);
  return { code: oneOf(o, 'code', f, PROTOCOL_CODES), message: str(o, 'message', f), ...(field !== undefined && { field }) };
}

/** A response (without id) in wire form: {ok, result} or {ok, error}. */
export function responseToWire(request: Request, response: Response): JsonObject {
  return response.ok
    ? { ok: true, result: resultToWire(request, response.result) }
    : { ok: false, error: protocolErrorToWire(response.error) };
}

/** A response from its wire form (the `id` is ignored). */
export function responseFromWire(request: Request, value: Json | undefined, field = ''): Response {
  const o = obj(value, field);
  const ok = bool(o, 'ok', field);
  if (!ok) return { ok: false, error: protocolErrorFromWire(o['error'], join(field, 'error')) };
  return { ok: true, result: resultFromWire(request, o['result'], join(field, 'result')) };
}

// ---------------------------------------------------------------------------
// Handshake

export interface HelloRequest {
  readonly contract: readonly number[];
  readonly profile: Profile | null;
  readonly client?: { readonly name: string; readonly version: string };
}

export function helloFromWire(value: Json | undefined): HelloRequest {
  const o = obj(value, '');
  const contract = arr(o, 'contract', '').map((v, i) => {
    if (typeof v !== 'number' || !Number.isSafeInteger(v)) fail(`contract.${i}`, 'must be an integer');
    return v;
  });
  const profile = o['profile'] === null ? null : oneOf(o, 'profile', '', PROFILES);
  const c = o['client'];
  const client = c === undefined ? undefined : { name: str(obj(c, 'client'), 'name', 'client'), version: str(obj(c, 'client'), 'version', 'client') };
  return { contract, profile, ...(client !== undefined && { client }) };
}

/** Narrow a Request to a single (non-batch) request. */
export function isSingleRequest(r: Request): r is SingleRequest {
  return r.op !== 'batch';
}
