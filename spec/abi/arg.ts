/**
 * Turns a typed ioctl argument (the adapter contract's IoctlArg) into the
 * bytes or integer the ioctl is issued with, so any adapter (TypeScript, or a
 * transport feeding a C program) issues exactly the same argument.
 */
import type {
  IoctlArg,
  PointerArg,
  RawPointerPatch,
  RawPointerResult,
  StructValue as ContractStructValue,
  FieldValue as ContractFieldValue,
} from '../contract/types.ts';
import type { Profile } from '../uapi/profiles.ts';
import { requireLayout, SCALAR_SIZE, type LayoutNode, type RecordNode } from '../uapi/layout.ts';
import type { CommandDef } from '../uapi/types.ts';
import { CodecError, encodeWithLayout, type FieldValue, type StructValue } from './codec.ts';

export type BuiltArg =
  | { readonly kind: 'bytes'; readonly bytes: Uint8Array; /** Pointer fields that named data or room, by dotted path. */ readonly pointers: readonly PlacedPointer[] }
  | { readonly kind: 'int'; readonly value: bigint }
  | { readonly kind: 'null' }
  | { readonly kind: 'fault' };

export interface PlacedPointer {
  /** Dotted field path (the key of IoctlResult.buffers); `ptrs.<i>(.ptrs.<j>)*` for a raw argument's pointer patches. */
  readonly path: string;
  /** Byte offset of the u64 pointer field in the argument bytes (for adapters that patch it in place); a nested patch's offset is in its parent's memory. */
  readonly offset: number;
  readonly arg: PointerArg;
  /** What `place` returned, written at `offset`. */
  readonly address: bigint;
}

/**
 * Places a PointerArg ({data} or {room}) in scratch user memory and returns its
 * address. The adapter provides it; without one, a PointerArg is an error.
 */
export type PlacePointer = (path: string, arg: PointerArg) => bigint;

/** Finds a command by name or request number in a profile. */
export { resolveCommand } from '../uapi/resolve.ts';

function isPointerArg(v: unknown): v is PointerArg {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && ('data' in v || 'room' in v);
}

/**
 * Replaces PointerArg values in pointer fields by the addresses `place` gives
 * them. `base` is the record's byte offset in the argument.
 */
const MEMBERS = new WeakMap<RecordNode, ReadonlyMap<string, { readonly node: LayoutNode; readonly at: number }>>();

/** A record's members by name, anonymous sub-records flattened, offsets from the record's start: built once per layout node. */
function membersOf(rec: RecordNode): ReadonlyMap<string, { readonly node: LayoutNode; readonly at: number }> {
  let byName = MEMBERS.get(rec);
  if (byName === undefined) {
    const m = new Map<string, { node: LayoutNode; at: number }>();
    const collect = (r: RecordNode, at: number): void => {
      for (const f of r.fields) {
        if (f.kind === 'record' && f.anonymous) collect(f, at + f.offset);
        else m.set(f.name, { node: f, at: at + f.offset });
      }
    };
    collect(rec, 0);
    MEMBERS.set(rec, m);
    byName = m;
  }
  return byName;
}

function placePointers(rec: RecordNode, base: number, value: ContractStructValue, path: string, place: PlacePointer | undefined, placed: PlacedPointer[]): StructValue {
  const out: StructValue = {};
  const byName = membersOf(rec);
  for (const k in value) {
    const v = value[k] as ContractFieldValue;
    const hit = byName.get(k);
    const p = path === '' ? k : `${path}.${k}`;
    out[k] = hit ? placeValue(hit.node, base + hit.at, v, p, place, placed) : (v as FieldValue); // unknown members: the codec names them
  }
  return out;
}

function placeValue(node: LayoutNode, at: number, v: ContractFieldValue, path: string, place: PlacePointer | undefined, placed: PlacedPointer[]): FieldValue {
  if (isPointerArg(v)) {
    if (node.kind !== 'scalar' || node.scalar !== 'ptr') throw new CodecError(path, 'data/room given for a field that is not a user pointer');
    if (!place) throw new CodecError(path, 'data/room pointer given but this adapter cannot place user memory');
    const address = place(path, v);
    placed.push({ path, offset: at, arg: v, address });
    return address;
  }
  if (node.kind === 'record' && typeof v === 'object' && v !== null && !Array.isArray(v)) {
    return placePointers(node, at, v as ContractStructValue, path, place, placed);
  }
  if (node.kind === 'array' && Array.isArray(v)) {
    return (v as readonly ContractFieldValue[]).map((e, i) => placeValue(node.elem, at + i * node.elem.size, e, `${path}[${i}]`, place, placed));
  }
  return v as FieldValue;
}

/**
 * The request field a CodecError from buildIoctlArg names, as a transport
 * reports it (ADAPTER.md §5): `arg.fields.<path>` for a struct member,
 * `arg.truncate`, or `arg` for the argument as a whole.
 */
export function ioctlArgField(e: CodecError): string {
  if (e.field === '' || e.field === 'arg') return 'arg';
  if (e.field === 'truncate' || e.field === 'ptrs' || e.field.startsWith('ptrs.')) return `arg.${e.field}`;
  return `arg.fields.${e.field}`;
}

/**
 * Builds the argument of `command` from an IoctlArg:
 *  - struct: fields encoded with the profile's layout; `size`/`argsz` default to
 *    sizeof(struct); `truncate` keeps the first N bytes; `tail` is appended;
 *  - raw: the bytes as given; int: the integer; null/fault: as named.
 * Throws CodecError naming the bad field (the transport reports it).
 */
export function buildIoctlArg(profile: Profile, command: CommandDef, arg: IoctlArg, place?: PlacePointer): BuiltArg {
  return arg.kind === 'struct' ? buildStruct(profile, command, arg, place) : buildUntypedArg(arg, place);
}

/** The argument kinds that need no command or layout (raw, int, null, fault): any request number can take them. */
export function buildUntypedArg(arg: Exclude<IoctlArg, { kind: 'struct' }>, place?: PlacePointer): BuiltArg {
  switch (arg.kind) {
    case 'raw': {
      const bytes = arg.bytes.slice();
      const pointers: PlacedPointer[] = [];
      if (arg.ptrs?.length) {
        if (!place) throw new CodecError('ptrs', 'pointer patches given but this adapter cannot place user memory');
        placePatches(bytes, arg.ptrs, 'ptrs', 0, place, pointers);
      }
      return { kind: 'bytes', bytes, pointers };
    }
    case 'int':
      return { kind: 'int', value: arg.value };
    case 'null':
      return { kind: 'null' };
    case 'fault':
      return { kind: 'fault' };
  }
}

/** How deep pointer patches nest below a raw argument's own (ADAPTER.md §3.3 asks for at least 4). */
export const MAX_PATCH_DEPTH = 4;

/**
 * Applies a raw argument's pointer patches (ADAPTER.md §3.3): each target
 * (data, or room zero bytes) gets its own patches first, then is placed, and
 * its address is written at `offset` of the parent bytes.
 */
function placePatches(parent: Uint8Array, ptrs: readonly RawPointerPatch[], path: string, depth: number, place: PlacePointer, placed: PlacedPointer[]): void {
  if (depth > MAX_PATCH_DEPTH) throw new CodecError(path, `pointer patches nest deeper than ${MAX_PATCH_DEPTH} levels`);
  const view = new DataView(parent.buffer, parent.byteOffset, parent.byteLength);
  ptrs.forEach((p, i) => {
    const at = `${path}.${i}`;
    if (!Number.isSafeInteger(p.offset) || p.offset < 0 || p.offset + SCALAR_SIZE.ptr > parent.length) {
      throw new CodecError(`${at}.offset`, `pointer offset ${p.offset} does not fit in ${parent.length} bytes`);
    }
    let target: PointerArg = 'data' in p ? { data: p.data } : { room: p.room };
    if (p.ptrs?.length) {
      const data = 'data' in p ? p.data.slice() : new Uint8Array(p.room);
      placePatches(data, p.ptrs, `${at}.ptrs`, depth + 1, place, placed);
      target = { data };
    }
    const address = place(at, target);
    view.setBigUint64(p.offset, address, true);
    placed.push({ path: at, offset: p.offset, arg: target, address });
  });
}

/** A raw argument's pointer patches after the call: `read(path)` gives a placed target's contents. */
export function rawPointerResults(ptrs: readonly RawPointerPatch[], read: (path: string) => Uint8Array, path = 'ptrs'): RawPointerResult[] {
  return ptrs.map((p, i) => {
    const at = `${path}.${i}`;
    const data = read(at);
    return p.ptrs?.length ? { data, ptrs: rawPointerResults(p.ptrs, read, `${at}.ptrs`) } : { data };
  });
}

function buildStruct(profile: Profile, command: CommandDef, arg: Extract<IoctlArg, { kind: 'struct' }>, place: PlacePointer | undefined): BuiltArg {
  if (!command.struct) throw new CodecError('arg', `${command.name} takes ${command.arg === 'int' ? 'an integer' : 'no'} argument, not a struct`);
  const layout = requireLayout(profile, command.struct);
  const placed: PlacedPointer[] = [];
  const value = placePointers(layout.root, 0, arg.fields, '', place, placed);
  const sizeField = command.arg === 'extensible' ? 'size' : 'argsz';
  if (value[sizeField] === undefined) value[sizeField] = layout.size;
  const encoded = encodeWithLayout(layout, value);
  // ADAPTER.md §3.3: the struct, then `tail` appended, then cut to `truncate` bytes.
  const tail = arg.tail;
  let full = encoded;
  if (tail !== undefined && tail.length > 0) {
    full = new Uint8Array(encoded.length + tail.length);
    full.set(encoded);
    full.set(tail, encoded.length);
  }
  if (arg.truncate !== undefined && (!Number.isInteger(arg.truncate) || arg.truncate < 0 || arg.truncate > full.length)) {
    throw new CodecError('truncate', `must be an integer in [0, ${full.length}]`);
  }
  const bytes = arg.truncate === undefined ? full : full.slice(0, arg.truncate);
  // A pointer field the cut removed is not part of the argument.
  return { kind: 'bytes', bytes, pointers: placed.filter((p) => p.offset + SCALAR_SIZE.ptr <= bytes.length) };
}
