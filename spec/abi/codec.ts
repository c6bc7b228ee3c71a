/**
 * Binary codec: struct values to and from little-endian bytes with a profile's
 * layout (spec/uapi/layout.ts, checked against gcc).
 *
 * Values are plain objects keyed by C member names (the adapter contract's
 * StructValue): u8/u16/u32/s32 as number, u64/s64/pointers as bigint, fixed
 * arrays as arrays, nested structs and named union members as nested objects,
 * members of anonymous unions directly in the parent. Fields left out are zero.
 * Padding is written as zero and ignored when reading.
 */
import type { Profile } from '../uapi/profiles.ts';
import { structLayout, type LayoutNode, type RecordNode, type StructLayout } from '../uapi/layout.ts';

/** A struct value (structurally the adapter contract's StructValue, minus PointerArg). */
export type StructValue = { [field: string]: FieldValue };
export type FieldValue = number | bigint | StructValue | readonly FieldValue[];

/** A value the codec cannot encode; `field` is the dotted path of the bad member. */
export class CodecError extends Error {
  readonly field: string;
  /** The message without the field path. */
  readonly detail: string;
  constructor(field: string, detail: string) {
    super(field === '' ? detail : `${field}: ${detail}`);
    this.name = 'CodecError';
    this.field = field;
    this.detail = detail;
  }
}

export interface DecodeOptions {
  /** Decode every member of a union with a discriminant, not only the selected one. */
  readonly allMembers?: boolean;
}

function layoutOrThrow(profile: Profile, name: string): StructLayout {
  const l = structLayout(profile, name);
  if (!l) throw new CodecError('', `struct ${name} does not exist in profile ${profile}`);
  return l;
}

function isRecordValue(v: unknown): v is StructValue {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array);
}

const U64_MAX = (1n << 64n) - 1n;
const S64_MIN = -(1n << 63n);
const S64_MAX = (1n << 63n) - 1n;

function toBigInt(v: FieldValue | undefined, path: string): bigint {
  if (v === undefined) return 0n;
  if (typeof v === 'bigint') return v;
  if (typeof v === 'number' && Number.isSafeInteger(v)) return BigInt(v);
  throw new CodecError(path, `expected an integer (bigint), got ${describe(v)}`);
}

function toInt(v: FieldValue | undefined, path: string): number {
  if (v === undefined) return 0;
  if (typeof v === 'number' && Number.isSafeInteger(v)) return v;
  if (typeof v === 'bigint' && v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER)) return Number(v);
  throw new CodecError(path, `expected an integer (number), got ${describe(v)}`);
}

function describe(v: unknown): string {
  if (typeof v === 'object' && v !== null) return Array.isArray(v) ? 'an array' : 'an object';
  return `${typeof v} ${String(v)}`;
}

function writeScalar(dv: DataView, off: number, node: Extract<LayoutNode, { kind: 'scalar' }>, v: FieldValue | undefined, path: string): void {
  switch (node.scalar) {
    case 'u8':
    case 'u16':
    case 'u32': {
      const n = toInt(v, path);
      const max = 2 ** (node.size * 8) - 1;
      if (n < 0 || n > max) throw new CodecError(path, `${n} out of range for ${node.scalar}`);
      if (node.size === 1) dv.setUint8(off, n);
      else if (node.size === 2) dv.setUint16(off, n, true);
      else dv.setUint32(off, n, true);
      return;
    }
    case 's32': {
      const n = toInt(v, path);
      if (n < -(2 ** 31) || n > 2 ** 31 - 1) throw new CodecError(path, `${n} out of range for s32`);
      dv.setInt32(off, n, true);
      return;
    }
    case 'u64':
    case 'ptr': {
      const b = toBigInt(v, path);
      if (b < 0n || b > U64_MAX) throw new CodecError(path, `${b} out of range for ${node.scalar === 'ptr' ? 'a pointer (u64)' : 'u64'}`);
      dv.setBigUint64(off, b, true);
      return;
    }
    case 's64': {
      const b = toBigInt(v, path);
      if (b < S64_MIN || b > S64_MAX) throw new CodecError(path, `${b} out of range for s64`);
      dv.setBigInt64(off, b, true);
      return;
    }
  }
}

function readScalar(dv: DataView, off: number, node: Extract<LayoutNode, { kind: 'scalar' }>): number | bigint {
  switch (node.scalar) {
    case 'u8':
      return dv.getUint8(off);
    case 'u16':
      return dv.getUint16(off, true);
    case 'u32':
      return dv.getUint32(off, true);
    case 's32':
      return dv.getInt32(off, true);
    case 'u64':
    case 'ptr':
      return dv.getBigUint64(off, true);
    case 's64':
      return dv.getBigInt64(off, true);
  }
}

function join(prefix: string, name: string): string {
  return prefix === '' ? name : `${prefix}.${name}`;
}

function encodeNode(dv: DataView, base: number, node: LayoutNode, v: FieldValue | undefined, path: string): void {
  const off = base + node.offset;
  // Absent members stay zero (the buffer starts zeroed), and an absent union member must not overwrite a given one.
  if (v === undefined) return;
  if (node.kind === 'scalar') {
    writeScalar(dv, off, node, v, path);
    return;
  }
  if (node.kind === 'array') {
    if (v === undefined) return;
    if (!Array.isArray(v)) throw new CodecError(path, `expected an array, got ${describe(v)}`);
    const arr = v as readonly FieldValue[];
    if (arr.length > node.length) {
      throw new CodecError(path, node.length === 0 ? 'flexible array members are not encoded with the struct' : `${arr.length} elements for an array of ${node.length}`);
    }
    arr.forEach((e, i) => encodeNode(dv, off + i * node.elem.size, node.elem, e, `${path}[${i}]`));
    return;
  }
  if (v === undefined) return;
  if (!isRecordValue(v)) throw new CodecError(path, `expected an object, got ${describe(v)}`);
  encodeRecord(dv, off, node, v, path);
}

const MEMBER_NAMES = new WeakMap<RecordNode, ReadonlySet<string>>();

/** memberNames of a record, computed once per layout node (every encode checks its keys). */
function knownMembers(rec: RecordNode): ReadonlySet<string> {
  let known = MEMBER_NAMES.get(rec);
  if (known === undefined) {
    known = memberNames(rec, new Set());
    MEMBER_NAMES.set(rec, known);
  }
  return known;
}

/** Member names a value may use for a record: its own members, plus those of its anonymous unions/structs. */
function memberNames(rec: RecordNode, out: Set<string>): Set<string> {
  for (const f of rec.fields) {
    if (f.kind === 'record' && f.anonymous) memberNames(f, out);
    else out.add(f.name);
  }
  return out;
}

/** Writes a record's members; `value` holds the members of its anonymous sub-records too. */
function encodeRecord(dv: DataView, off: number, rec: RecordNode, value: StructValue, path: string, checkKeys = true): void {
  if (checkKeys) {
    const known = knownMembers(rec);
    for (const k of Object.keys(value)) {
      if (!known.has(k)) throw new CodecError(join(path, k), `no such member in ${rec.structName ? `struct ${rec.structName}` : path || 'struct'}`);
    }
  }
  for (const f of rec.fields) {
    if (f.kind === 'record' && f.anonymous) {
      encodeRecord(dv, off + f.offset, f, value, path, false);
      continue;
    }
    // Union members are written in declaration order: give one member per union.
    encodeNode(dv, off, f, value[f.name], join(path, f.name));
  }
}

function decodeNode(dv: DataView, base: number, node: LayoutNode, opts: DecodeOptions): FieldValue {
  const off = base + node.offset;
  if (node.kind === 'scalar') return readScalar(dv, off, node);
  if (node.kind === 'array') {
    const out: FieldValue[] = [];
    for (let i = 0; i < node.length; i++) out.push(decodeNode(dv, off + i * node.elem.size, node.elem, opts));
    return out;
  }
  const value: StructValue = {};
  decodeRecord(dv, off, node, value, opts, undefined);
  return value;
}

/** The union member a discriminant (e.g. iommu_test_cmd.op) selects, if any. */
function selectedMember(rec: RecordNode, parent: StructValue | undefined): string | undefined {
  const d = rec.discriminant;
  if (!d || !parent) return undefined;
  const sel = parent[d.field];
  if (typeof sel !== 'number') return undefined;
  return memberBySelector(rec).get(sel);
}

const SELECTED = new WeakMap<RecordNode, ReadonlyMap<number, string>>();

/** Selector value → the first member (in the discriminant's order) that the record has; built once per record. */
function memberBySelector(rec: RecordNode): ReadonlyMap<number, string> {
  let m = SELECTED.get(rec);
  if (m === undefined) {
    const built = new Map<number, string>();
    for (const [member, values] of Object.entries(rec.discriminant?.members ?? {})) {
      if (!rec.fields.some((f) => f.name === member)) continue;
      for (const v of values) if (!built.has(v)) built.set(v, member);
    }
    m = built;
    SELECTED.set(rec, m);
  }
  return m;
}

function decodeRecord(dv: DataView, off: number, rec: RecordNode, into: StructValue, opts: DecodeOptions, parent: StructValue | undefined): void {
  const only = opts.allMembers ? undefined : selectedMember(rec, parent);
  for (const f of rec.fields) {
    if (only !== undefined && f.name !== only) continue;
    if (f.kind === 'record' && f.anonymous) {
      decodeRecord(dv, off + f.offset, f, into, opts, into);
      continue;
    }
    if (f.kind === 'array' && f.length === 0) continue; // flexible array: not part of the struct's bytes
    into[f.name] = decodeNode(dv, off, f, opts);
  }
}

/** Encodes a value into sizeof(struct) bytes (little-endian). Throws CodecError naming a bad field. */
export function encodeStruct(profile: Profile, name: string, value: StructValue): Uint8Array {
  const layout = layoutOrThrow(profile, name);
  return encodeWithLayout(layout, value);
}

export function encodeWithLayout(layout: StructLayout, value: StructValue): Uint8Array {
  const scratch = codecScratch(layout.size);
  scratch.bytes.fill(0, 0, layout.size);
  encodeRecord(scratch.view, 0, layout.root, value, '');
  return scratch.bytes.slice(0, layout.size);
}

/**
 * Decodes a struct. Bytes shorter than sizeof are zero-extended (as the kernel
 * zero-extends a short extensible struct); bytes beyond sizeof are ignored.
 * A union with a discriminant yields only the member its selector picks
 * (unless `allMembers`); other unions yield every member.
 */
export function decodeStruct(profile: Profile, name: string, bytes: Uint8Array, opts: DecodeOptions = {}): StructValue {
  const layout = layoutOrThrow(profile, name);
  return decodeWithLayout(layout, bytes, opts);
}

/**
 * The bytes encodes write into and decodes read from (copied in and
 * zero-extended to sizeof). Neither calls out to anything, so one buffer
 * serves them all: a DataView over a fresh small array would first move the
 * array off V8's heap (its `.buffer`), which cost more than the encoding.
 */
let scratch = { bytes: new Uint8Array(4096), view: new DataView(new ArrayBuffer(0)) };
scratch.view = new DataView(scratch.bytes.buffer);

function codecScratch(size: number): { bytes: Uint8Array; view: DataView } {
  if (scratch.bytes.length < size) {
    const bytes = new Uint8Array(size);
    scratch = { bytes, view: new DataView(bytes.buffer) };
  }
  return scratch;
}

export function decodeWithLayout(layout: StructLayout, bytes: Uint8Array, opts: DecodeOptions = {}): StructValue {
  const { bytes: buf, view } = codecScratch(layout.size);
  const n = Math.min(bytes.length, layout.size);
  buf.set(n === bytes.length ? bytes : bytes.subarray(0, n));
  buf.fill(0, n, layout.size);
  const value: StructValue = {};
  decodeRecord(view, 0, layout.root, value, opts, undefined);
  return value;
}

/** Bytes of a struct that belong to no member (padding): true at padding offsets. */
export function paddingMask(profile: Profile, name: string): boolean[] {
  const layout = layoutOrThrow(profile, name);
  const used = new Array<boolean>(layout.size).fill(false);
  const mark = (node: LayoutNode, base: number): void => {
    const off = base + node.offset;
    if (node.kind === 'scalar') for (let i = 0; i < node.size; i++) used[off + i] = true;
    else if (node.kind === 'array') for (let i = 0; i < node.length; i++) mark(node.elem, off + i * node.elem.size);
    else for (const f of node.fields) mark(f, off);
  };
  for (const f of layout.root.fields) mark(f, 0);
  return used.map((u) => !u);
}

/** Encodes consecutive structs (e.g. the iommu_iova_range array behind allowed_iovas, fault records). */
export function encodeArray(profile: Profile, name: string, values: readonly StructValue[]): Uint8Array {
  const layout = layoutOrThrow(profile, name);
  const out = new Uint8Array(layout.size * values.length);
  values.forEach((v, i) => {
    try {
      out.set(encodeWithLayout(layout, v), i * layout.size);
    } catch (e) {
      if (e instanceof CodecError) throw new CodecError(`[${i}]${e.field === '' ? '' : `.${e.field}`}`, e.detail);
      throw e;
    }
  });
  return out;
}

/** Decodes `count` consecutive structs (default: as many whole ones as the bytes hold). */
export function decodeArray(profile: Profile, name: string, bytes: Uint8Array, count?: number): StructValue[] {
  const layout = layoutOrThrow(profile, name);
  const n = count ?? Math.floor(bytes.length / layout.size);
  const out: StructValue[] = [];
  for (let i = 0; i < n; i++) out.push(decodeWithLayout(layout, bytes.subarray(i * layout.size, (i + 1) * layout.size)));
  return out;
}
