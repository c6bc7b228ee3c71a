/**
 * Lowering of contract `struct` ioctl arguments for the kernel lane.
 *
 * The C adapter in the guest knows no struct layouts: the host encodes a
 * StructValue into the bytes of the profile's layout (spec/uapi/layout.ts) and
 * turns every PointerArg field ({data} / {room}) into a pointer patch — the
 * adapter places the target in scratch memory, writes its address at the
 * patch's offset, and returns the target's contents after the call. The result
 * bytes are decoded back into a StructValue with the same layout.
 *
 * Wire form of a lowered argument (conformance/kernel/README.md):
 *   {"kind":"raw","bytes":{"b64"},"ptrs":[{"offset":N,"data":{"b64"}}|{"offset":N,"room":N}]}
 * and of its result: {"ret","errno","bytes":{"b64"},"ptrs":[{"data":{"b64"}}]}.
 */
import type { IoctlArg, PointerArg, Profile, StructValue, FieldValue } from '../adapter/types.ts';
import type { LayoutNode, RecordNode } from '../../spec/uapi/layout.ts';
import { structLayout } from '../../spec/uapi/layout.ts';
import { commandByName, commandByRequest } from '../../spec/uapi/index.ts';
import type { CommandDef } from '../../spec/uapi/types.ts';

/** A pointer field to be placed by the adapter. */
export interface PointerPatch {
  /** Byte offset of the u64 pointer inside the argument bytes. */
  readonly offset: number;
  /** Dotted field path, the key of IoctlResult.buffers. */
  readonly path: string;
  readonly target: PointerArg;
}

export interface LoweredArg {
  readonly struct: string;
  readonly bytes: Uint8Array;
  readonly patches: readonly PointerPatch[];
  /** Size of the struct proper (without tail), for decoding the result. */
  readonly structSize: number;
}

/** The bad field of a struct value, named by its dotted path. */
export class LowerError extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(message);
    this.name = 'LowerError';
  }
}

export function isPointerArg(v: FieldValue): v is PointerArg {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && ('data' in v || 'room' in v) && Object.keys(v).length === 1;
}

/** The spec's command for an ioctl request's `cmd` (name or request number). */
export function commandFor(profile: Profile, cmd: string | number): CommandDef | undefined {
  if (typeof cmd === 'string') return commandByName(profile, cmd);
  return commandByRequest(profile, cmd, 'iommufd') ?? commandByRequest(profile, cmd);
}

function writeScalar(view: DataView, offset: number, size: number, value: number | bigint, path: string): void {
  const big = typeof value === 'bigint' ? value : BigInt(value);
  if (typeof value === 'number' && !Number.isInteger(value)) throw new LowerError(path, `field '${path}' must be an integer`);
  const bits = BigInt(size * 8);
  const masked = BigInt.asUintN(size * 8, big);
  if (big < -(1n << (bits - 1n)) || big >= 1n << bits) throw new LowerError(path, `field '${path}' does not fit in ${size} bytes`);
  if (offset + size > view.byteLength) return; // beyond a truncated buffer
  switch (size) {
    case 1:
      view.setUint8(offset, Number(masked));
      return;
    case 2:
      view.setUint16(offset, Number(masked), true);
      return;
    case 4:
      view.setUint32(offset, Number(masked), true);
      return;
    default:
      view.setBigUint64(offset, masked, true);
  }
}

function join(prefix: string, name: string | number): string {
  return prefix === '' ? String(name) : `${prefix}.${name}`;
}

interface EncodeState {
  readonly view: DataView;
  readonly patches: PointerPatch[];
}

function encodeNode(node: LayoutNode, base: number, value: FieldValue, path: string, st: EncodeState): void {
  const offset = base + node.offset;
  switch (node.kind) {
    case 'scalar':
      if (isPointerArg(value)) {
        if (node.scalar !== 'ptr' && node.scalar !== 'u64') throw new LowerError(path, `field '${path}' is not a pointer`);
        st.patches.push({ offset, path, target: value });
        return;
      }
      if (typeof value !== 'number' && typeof value !== 'bigint') throw new LowerError(path, `field '${path}' must be a number or bigint`);
      writeScalar(st.view, offset, node.size, value, path);
      return;
    case 'array': {
      if (!Array.isArray(value)) throw new LowerError(path, `field '${path}' must be an array`);
      const items = value as readonly FieldValue[];
      if (node.length !== 0 && items.length > node.length) throw new LowerError(path, `field '${path}' has more than ${node.length} elements`);
      items.forEach((item, i) => encodeNode(node.elem, offset + i * node.elem.size, item, join(path, i), st));
      return;
    }
    case 'record':
      if (typeof value !== 'object' || value === null || Array.isArray(value) || isPointerArg(value as FieldValue)) {
        throw new LowerError(path, `field '${path}' must be a struct value`);
      }
      encodeRecord(node, offset, value as StructValue, path, st);
  }
}

function encodeRecord(node: RecordNode, base: number, value: StructValue, path: string, st: EncodeState): void {
  const known = new Set<string>();
  for (const f of node.fields) {
    if (f.kind === 'record' && f.anonymous) {
      encodeRecord(f, base + f.offset, value, path, st);
      for (const n of memberNames(f)) known.add(n);
      continue;
    }
    known.add(f.name);
    const v = value[f.name];
    if (v !== undefined) encodeNode(f, base, v, join(path, f.name), st);
  }
  if (!node.anonymous) {
    for (const key of Object.keys(value)) {
      if (!known.has(key) && !isAnonymousChildKey(node, key)) throw new LowerError(join(path, key), `struct has no field '${join(path, key)}'`);
    }
  }
}

function memberNames(node: RecordNode): string[] {
  return node.fields.flatMap((f) => (f.kind === 'record' && f.anonymous ? memberNames(f) : [f.name]));
}

function isAnonymousChildKey(node: RecordNode, key: string): boolean {
  return memberNames(node).includes(key);
}

function findSizeField(root: RecordNode): { name: string; offset: number } | undefined {
  const first = root.fields[0];
  if (first?.kind === 'scalar' && (first.def?.role === 'size' || first.def?.role === 'argsz')) return { name: first.name, offset: first.offset };
  return undefined;
}

/** Encodes a `struct` ioctl argument for the command `cmd` in `profile`. */
export function lowerStructArg(profile: Profile, cmd: string | number, arg: Extract<IoctlArg, { kind: 'struct' }>): LoweredArg {
  const command = commandFor(profile, cmd);
  if (!command) throw new LowerError('cmd', `'${String(cmd)}' is not a command of profile ${profile}`);
  if (!command.struct) throw new LowerError('arg.kind', `${command.name} takes no struct argument`);
  const layout = structLayout(profile, command.struct);
  if (!layout) throw new LowerError('cmd', `struct ${command.struct} does not exist in profile ${profile}`);
  const size = layout.size;
  const full = new Uint8Array(size + (arg.tail?.length ?? 0));
  const st: EncodeState = { view: new DataView(full.buffer, 0, size), patches: [] };
  const sizeField = findSizeField(layout.root);
  const fields = arg.fields;
  // `size` / `argsz` default to the struct's full size (types.ts IoctlArg).
  const withSize = sizeField && fields[sizeField.name] === undefined ? { ...fields, [sizeField.name]: size } : fields;
  try {
    encodeRecord(layout.root, 0, withSize, '', st);
  } catch (e) {
    if (e instanceof LowerError) throw new LowerError(`arg.fields.${e.field}`, e.message);
    throw e;
  }
  if (arg.tail) full.set(arg.tail, size);
  let bytes = full;
  let patches = st.patches;
  if (arg.truncate !== undefined) {
    if (!Number.isInteger(arg.truncate) || arg.truncate < 0 || arg.truncate > full.length) {
      throw new LowerError('arg.truncate', `truncate must be 0..${full.length}`);
    }
    bytes = full.slice(0, arg.truncate);
    patches = patches.filter((p) => p.offset + 8 <= bytes.length);
  }
  return { struct: command.struct, bytes, patches, structSize: size };
}

function readScalar(view: DataView, offset: number, node: Extract<LayoutNode, { kind: 'scalar' }>): number | bigint {
  if (offset + node.size > view.byteLength) return node.size === 8 ? 0n : 0;
  switch (node.scalar) {
    case 'u8':
      return view.getUint8(offset);
    case 'u16':
      return view.getUint16(offset, true);
    case 'u32':
      return view.getUint32(offset, true);
    case 's32':
      return view.getInt32(offset, true);
    case 's64':
      return view.getBigInt64(offset, true);
    default:
      return view.getBigUint64(offset, true);
  }
}

function decodeNode(node: LayoutNode, base: number, view: DataView, selector: Map<string, number>): FieldValue {
  const offset = base + node.offset;
  switch (node.kind) {
    case 'scalar':
      return readScalar(view, offset, node);
    case 'array': {
      const out: FieldValue[] = [];
      for (let i = 0; i < node.length; i++) out.push(decodeNode(node.elem, offset + i * node.elem.size, view, selector));
      return out;
    }
    case 'record':
      return decodeRecord(node, offset, view, selector);
  }
}

function decodeRecord(node: RecordNode, base: number, view: DataView, selector: Map<string, number>): StructValue {
  const out: { [k: string]: FieldValue } = {};
  for (const f of node.fields) {
    if (f.kind === 'record' && f.anonymous) {
      const chosen = unionChoice(f, selector);
      const inner = decodeRecord(chosen ?? f, base + f.offset, view, selector);
      Object.assign(out, inner);
      continue;
    }
    const v = decodeNode(f, base, view, selector);
    out[f.name] = v;
    if (f.kind === 'scalar' && typeof v === 'number') selector.set(f.name, v);
  }
  return out;
}

/** For a discriminated union, a record holding only the selected member. */
function unionChoice(node: RecordNode, selector: Map<string, number>): RecordNode | undefined {
  const d = node.discriminant;
  if (!d) return undefined;
  const sel = selector.get(d.field);
  if (sel === undefined) return undefined;
  const name = Object.entries(d.members).find(([, values]) => values.includes(sel))?.[0];
  return { ...node, fields: node.fields.filter((f) => f.name === name) };
}

/** Decodes the bytes an ioctl left in its argument with the struct's layout. */
export function raiseStruct(profile: Profile, struct: string, bytes: Uint8Array): StructValue {
  const layout = structLayout(profile, struct);
  if (!layout) throw new LowerError('cmd', `struct ${struct} does not exist in profile ${profile}`);
  const padded = new Uint8Array(Math.max(layout.size, bytes.length));
  padded.set(bytes);
  return decodeRecord(layout.root, 0, new DataView(padded.buffer, 0, layout.size), new Map());
}
