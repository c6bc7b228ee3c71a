/**
 * Integer kinds of struct values (ADAPTER.md §3.3 "Struct values", §7.4): a
 * member of 8 bytes (`__u64`, `__aligned_u64`, `__s64`, a user pointer) is a
 * u64 (a bigint here, a decimal string on the wire); a member of 1, 2 or 4
 * bytes is a number. The wire form converts without knowing the layout
 * (string ⇄ bigint, number ⇄ number), so a client that sends a 32-bit member
 * as a string, or a server that answers a 64-bit member as a number, breaks
 * the contract even though each message is schema-valid. These checks find
 * that, with the command's layout for the session's profile:
 *
 *   - `structKindViolation`   the first member of a request's `fields` or a
 *                             result's `out` whose kind is wrong (field path);
 *   - `normalizeStructKinds`  a struct value with every integer converted to
 *                             its member's kind (the program runner writes
 *                             numerals as strings whatever the width).
 *
 * Members the layout does not have are left alone (the codec names them).
 */
import type { FieldValue, IoctlArg, IoctlResult, Profile, StructValue } from './types.ts';
import { resolveCommand } from '../uapi/resolve.ts';
import { structLayout, type LayoutNode, type RecordNode } from '../uapi/layout.ts';

/** A member whose value has the wrong kind: its dotted path and what is wrong. */
export interface KindViolation {
  readonly field: string;
  readonly message: string;
}

function join(prefix: string, key: string): string {
  return prefix === '' ? key : `${prefix}.${key}`;
}

function isRecordValue(v: unknown): v is StructValue {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array);
}

function isPointerArg(v: unknown): boolean {
  if (!isRecordValue(v)) return false;
  const keys = Object.keys(v);
  return keys.length === 1 && (keys[0] === 'data' || keys[0] === 'room');
}

const MEMBERS = new WeakMap<RecordNode, ReadonlyMap<string, LayoutNode>>();

/** Members a value of `rec` may name: its own, plus those of its anonymous unions/structs (computed once per layout node: every ioctl request is checked). */
function membersOf(rec: RecordNode): ReadonlyMap<string, LayoutNode> {
  let members = MEMBERS.get(rec);
  if (members === undefined) {
    members = collectMembers(rec, new Map());
    MEMBERS.set(rec, members);
  }
  return members;
}

function collectMembers(rec: RecordNode, out: Map<string, LayoutNode>): Map<string, LayoutNode> {
  for (const f of rec.fields) {
    if (f.kind === 'record' && f.anonymous) collectMembers(f, out);
    else out.set(f.name, f);
  }
  return out;
}

function wide(node: Extract<LayoutNode, { kind: 'scalar' }>): boolean {
  return node.size === 8;
}

function nodeViolation(node: LayoutNode, v: FieldValue, path: string): KindViolation | undefined {
  if (node.kind === 'scalar') {
    if (wide(node)) {
      if (typeof v === 'number') return { field: path, message: `is a ${node.scalar === 'ptr' ? 'user pointer' : node.scalar} member: give it as a u64 (a decimal string on the wire), not a number` };
      return undefined;
    }
    if (typeof v === 'bigint') return { field: path, message: `is a ${node.size * 8}-bit member: give it as a number, not a u64 string` };
    return undefined;
  }
  if (node.kind === 'array') {
    if (!Array.isArray(v)) return undefined;
    for (const [i, e] of (v as readonly FieldValue[]).entries()) {
      const bad = nodeViolation(node.elem, e, join(path, String(i)));
      if (bad) return bad;
    }
    return undefined;
  }
  return isRecordValue(v) && !isPointerArg(v) ? recordViolation(node, v, path) : undefined;
}

function recordViolation(rec: RecordNode, value: StructValue, path: string): KindViolation | undefined {
  const members = membersOf(rec);
  for (const [k, v] of Object.entries(value)) {
    const node = members.get(k);
    if (!node) continue;
    const bad = nodeViolation(node, v, join(path, k));
    if (bad) return bad;
  }
  return undefined;
}

/** The record layout of a command's struct in a profile, if the command has one. */
function commandRecord(profile: Profile, cmd: string | number): RecordNode | undefined {
  const command = resolveCommand(profile, cmd);
  if (!command?.struct) return undefined;
  return structLayout(profile, command.struct)?.root;
}

/** The first member of an ioctl request's struct `fields` with the wrong kind (path prefixed `arg.fields`). */
export function requestKindViolation(profile: Profile, cmd: string | number, arg: IoctlArg): KindViolation | undefined {
  if (arg.kind !== 'struct') return undefined;
  const rec = commandRecord(profile, cmd);
  return rec ? recordViolation(rec, arg.fields, 'arg.fields') : undefined;
}

/** The first member of an ioctl result's `out` with the wrong kind (path prefixed `out`). */
export function resultKindViolation(profile: Profile, cmd: string | number, result: IoctlResult): KindViolation | undefined {
  if (!result.out) return undefined;
  const rec = commandRecord(profile, cmd);
  return rec ? recordViolation(rec, result.out, 'out') : undefined;
}

function normalizeNode(node: LayoutNode, v: FieldValue): FieldValue {
  if (node.kind === 'scalar') {
    if (wide(node)) return typeof v === 'number' && Number.isSafeInteger(v) ? BigInt(v) : v;
    return typeof v === 'bigint' && v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  }
  if (node.kind === 'array') return Array.isArray(v) ? (v as readonly FieldValue[]).map((e) => normalizeNode(node.elem, e)) : v;
  return isRecordValue(v) && !isPointerArg(v) ? normalizeRecord(node, v) : v;
}

function normalizeRecord(rec: RecordNode, value: StructValue): StructValue {
  const members = membersOf(rec);
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, members.has(k) ? normalizeNode(members.get(k) as LayoutNode, v) : v]));
}

/**
 * An ioctl argument with every integer of its struct `fields` in its member's
 * kind (number for ≤ 32-bit members, bigint for 64-bit ones). Out-of-range
 * values keep their kind, so the implementation still reports them.
 */
export function normalizeStructKinds(profile: Profile, cmd: string | number, arg: IoctlArg): IoctlArg {
  if (arg.kind !== 'struct') return arg;
  const rec = commandRecord(profile, cmd);
  return rec ? { ...arg, fields: normalizeRecord(rec, arg.fields) } : arg;
}
