/**
 * Turning a step's JSON into a contract request: symbolic references to
 * earlier results, named constants, u64 strings, byte specs. See FORMAT.md
 * "Values".
 */
import type { Profile } from '../../spec/contract/types.ts';
import { cValues } from '../../spec/uapi/names.ts';
import type { Json, JsonObject } from './types.ts';

/** A runtime value after resolution: what the contract's requests carry. */
export type Value = null | number | bigint | boolean | string | Uint8Array | readonly Value[] | { readonly [k: string]: Value };

/** A program problem found while resolving: names the field. */
export class ResolveError extends Error {
  constructor(readonly field: string, message: string) {
    super(`${field}: ${message}`);
  }
}

/** Named constants of each profile: the spec's uAPI data (checked against the headers by the layout probe). */
const CONSTANTS: Record<Profile, Record<string, number>> = { '6.12': cValues('6.12'), '7.3': cValues('7.3') };

export function constantValue(profile: Profile, name: string): number | undefined {
  return CONSTANTS[profile][name];
}

/** Names of the constants of a profile (for reverse lookups, e.g. test-op names). */
export function constantNames(profile: Profile): readonly string[] {
  return CONSTANT_NAMES[profile];
}

/** Computed once: reverse lookups ask for them per command. */
const CONSTANT_NAMES: Record<Profile, readonly string[]> = { '6.12': Object.freeze(Object.keys(CONSTANTS['6.12'])), '7.3': Object.freeze(Object.keys(CONSTANTS['7.3'])) };

const NUMERIC = /^-?(0x[0-9a-fA-F]+|[0-9]+)$/;
const CONST_EXPR = /^[A-Za-z_][A-Za-z0-9_]*(\s*\|\s*([A-Za-z_][A-Za-z0-9_]*|0x[0-9a-fA-F]+|[0-9]+))*$/;
const REF_SHORT = /^\$([A-Za-z_][A-Za-z0-9_]*)((?:\.[A-Za-z0-9_]+)*)$/;
export const BYTE_KEYS = ['hex', 'base64', 'fill', 'u32s', 'u64s'] as const;

export function parseNumeric(text: string): bigint {
  return text.startsWith('-') ? -BigInt(text.slice(1)) : BigInt(text);
}

export function isJsonObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array);
}

export function isRefObject(v: unknown): v is JsonObject {
  return isJsonObject(v) && typeof v['$'] === 'string';
}

export function isByteSpec(v: unknown): v is JsonObject {
  return isJsonObject(v) && BYTE_KEYS.some((k) => k in v);
}

/** Every binding name a JSON value refers to. */
export function collectRefs(v: unknown, into: Set<string> = new Set()): Set<string> {
  if (typeof v === 'string') {
    const m = REF_SHORT.exec(v);
    if (m) into.add(m[1] as string);
  } else if (Array.isArray(v)) {
    for (const x of v) collectRefs(x, into);
  } else if (isJsonObject(v)) {
    if (isRefObject(v)) into.add(v['$'] as string);
    else for (const x of Object.values(v)) collectRefs(x, into);
  }
  return into;
}

/** Walks a dotted path into a result value; undefined when absent. "." is the value itself. */
export function getPath(value: unknown, path: string): unknown {
  if (path === '.' || path === '') return value;
  let cur: unknown = value;
  for (const part of path.split('.')) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[part];
  }
  return cur;
}

export function bytesOf(spec: JsonObject, field: string): Uint8Array {
  if (typeof spec['hex'] === 'string') {
    const hex = spec['hex'].replace(/\s/g, '');
    if (!/^([0-9a-fA-F]{2})*$/.test(hex)) throw new ResolveError(field, 'hex must be pairs of hex digits');
    return Uint8Array.from(hex.match(/../g) ?? [], (b) => parseInt(b, 16));
  }
  if (typeof spec['base64'] === 'string') {
    // Buffer.from skips what is not base64: a typo would silently send fewer bytes.
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(spec['base64']) || spec['base64'].length % 4 !== 0) throw new ResolveError(field, 'base64 must be standard base64 with padding');
    return new Uint8Array(Buffer.from(spec['base64'], 'base64'));
  }
  if (typeof spec['fill'] === 'number') {
    const length = spec['length'];
    if (typeof length !== 'number' || length < 0) throw new ResolveError(field, 'fill needs a length');
    return new Uint8Array(length).fill(spec['fill']);
  }
  const width = Array.isArray(spec['u64s']) ? 8 : 4;
  const items = (spec['u64s'] ?? spec['u32s']) as readonly Json[];
  const out = new Uint8Array(items.length * width);
  const view = new DataView(out.buffer);
  items.forEach((x, i) => {
    const n = typeof x === 'number' ? BigInt(x) : typeof x === 'string' && NUMERIC.test(x) ? parseNumeric(x) : undefined;
    if (n === undefined) throw new ResolveError(`${field}[${i}]`, 'not an integer');
    if (width === 8) view.setBigUint64(i * 8, BigInt.asUintN(64, n), true);
    else view.setUint32(i * 4, Number(BigInt.asUintN(32, n)), true);
  });
  return out;
}

export interface ResolveContext {
  readonly profile: Profile;
  /** Bound names → values from earlier results. */
  readonly bindings: ReadonlyMap<string, unknown>;
}

/** Values a ref may produce (results are numbers, bigints, objects). */
function asValue(v: unknown, field: string): Value {
  if (typeof v === 'number' || typeof v === 'bigint' || typeof v === 'boolean' || typeof v === 'string') return v;
  if (v instanceof Uint8Array) return v;
  if (typeof v === 'object' && v !== null) return v as Value;
  throw new ResolveError(field, `reference resolves to ${String(v)}`);
}

function resolveRef(name: string, path: string, ctx: ResolveContext, field: string): unknown {
  if (!ctx.bindings.has(name)) throw new ResolveError(field, `$${name} is not bound (the step that binds it failed or was skipped)`);
  const v = getPath(ctx.bindings.get(name), path);
  if (v === undefined) throw new ResolveError(field, `$${name}${path ? '.' + path : ''} has no value`);
  return v;
}

export function constExpr(text: string, profile: Profile, field: string): number | bigint {
  let acc = 0n;
  let big = false;
  for (const part of text.split('|').map((s) => s.trim())) {
    if (NUMERIC.test(part)) {
      acc |= parseNumeric(part);
      continue;
    }
    const v = constantValue(profile, part);
    if (v === undefined) throw new ResolveError(field, `unknown constant ${part} in profile ${profile}`);
    if (typeof v === 'bigint') big = true;
    acc |= BigInt(v);
  }
  return big || acc > 0xffffffffn ? acc : Number(acc);
}

/**
 * Resolves a JSON value. `consts`: strings that are neither references nor
 * numerals are constant expressions (inside ioctl struct fields) rather than
 * literal strings (op names, node names, prot).
 */
export function resolveValue(v: Json, ctx: ResolveContext, field: string, consts: boolean): Value {
  // null only means something in environment requests (rlimitMemlock: null = unlimited).
  if (v === null) {
    if (consts) throw new ResolveError(field, 'null is not a struct field value');
    return null;
  }
  if (typeof v === 'number' || typeof v === 'boolean') return v;
  if (typeof v === 'string') {
    const ref = REF_SHORT.exec(v);
    if (ref) return asValue(resolveRef(ref[1] as string, (ref[2] ?? '').slice(1), ctx, field), field);
    if (NUMERIC.test(v)) return parseNumeric(v);
    if (consts && CONST_EXPR.test(v)) return constExpr(v, ctx.profile, field);
    return v;
  }
  if (Array.isArray(v)) return v.map((x, i) => resolveValue(x, ctx, `${field}[${i}]`, consts));
  const o = v as unknown as JsonObject;
  if (isRefObject(o)) return resolveRefObject(o, ctx, field);
  if (isByteSpec(o)) return bytesOf(resolveWords(o, ctx, field), field);
  const out: Record<string, Value> = {};
  for (const [k, x] of Object.entries(o)) out[k] = resolveValue(x as Json, ctx, field ? `${field}.${k}` : k, consts);
  return out;
}

/** u32s/u64s elements may be references or constants: resolve them to numerals first. */
function resolveWords(o: JsonObject, ctx: ResolveContext, field: string): JsonObject {
  const key = Array.isArray(o['u64s']) ? 'u64s' : Array.isArray(o['u32s']) ? 'u32s' : undefined;
  if (!key) return o;
  const words = (o[key] as readonly Json[]).map((x, i) => {
    const v = resolveValue(x, ctx, `${field}.${key}[${i}]`, true);
    if (typeof v !== 'number' && typeof v !== 'bigint') throw new ResolveError(`${field}.${key}[${i}]`, 'not an integer');
    return v.toString();
  });
  return { ...o, [key]: words };
}

/** {"$": name, "field": path, "add": n, "as": "u64"|"u32", "u32at": offset}: a
 * reference with an offset; u32at reads a little-endian u32 from bound bytes
 * (e.g. the cookie of a fault record read from a fault fd). */
function resolveRefObject(o: JsonObject, ctx: ResolveContext, field: string): Value {
  const path = typeof o['field'] === 'string' ? o['field'] : '';
  let v = resolveRef(o['$'] as string, path, ctx, field);
  if (typeof o['u32at'] === 'number') {
    const at = o['u32at'];
    if (!(v instanceof Uint8Array) || at + 4 > v.length) throw new ResolveError(field, `u32at ${at}: no 4 bytes there`);
    v = new DataView(v.buffer, v.byteOffset, v.length).getUint32(at, true);
  }
  const add = o['add'];
  if (add !== undefined) {
    const n = typeof add === 'number' ? BigInt(add) : typeof add === 'string' && NUMERIC.test(add) ? parseNumeric(add) : undefined;
    if (n === undefined) throw new ResolveError(`${field}.add`, 'not an integer');
    if (typeof v === 'bigint') v = v + n;
    else if (typeof v === 'number') v = v + Number(n);
    else throw new ResolveError(field, `cannot add to a ${typeof v}`);
  }
  if (o['as'] === 'u64' && typeof v === 'number') v = BigInt(v);
  if (o['as'] === 'u32' && typeof v === 'bigint') v = Number(v);
  return asValue(v, field);
}
