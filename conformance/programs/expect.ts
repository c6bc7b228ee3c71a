/**
 * Checking a step's result against its `expect` allowed set (FORMAT.md
 * "Expectations"). Like WebAssembly's `either`: the program lists what the
 * kernel allows, and any member of the set passes.
 */
import { errnoName } from './errno.ts';
import type { Json, StepExpect } from './types.ts';
import { getPath, isByteSpec, isJsonObject, isRefObject, resolveValue, type ResolveContext } from './values.ts';

/** The parts of a step's outcome an expectation can name. */
export interface Observed {
  /** Status and errno of earlier steps, by step number (for sameAs). */
  readonly earlier?: (step: number) => { readonly status: string; readonly errno?: number } | undefined;
  readonly status: 'ok' | 'failed';
  readonly ret?: number;
  readonly errno?: number;
  readonly out?: unknown;
  readonly result?: unknown;
  readonly buffers?: { readonly [path: string]: Uint8Array };
}

function toBig(v: unknown): bigint | undefined {
  if (typeof v === 'bigint') return v;
  if (typeof v === 'number' && Number.isInteger(v)) return BigInt(v);
  return undefined;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** Keys that make an object an allowed *set* rather than a partial match of sub-fields. */
export const SET_KEYS = ['in', 'any', 'range', 'not', 'all', 'aligned', 'le32', 'some', 'every', 'none'] as const;

/**
 * Does `actual` fall in the allowed value `allowed`? `consts`: a string that
 * is neither a reference nor a numeral is a constant expression (ioctl
 * struct fields and return values: `"IOMMU_IOAS_MAP_READABLE|…"`); without it
 * a string is itself (the string results of environment ops: a `dma` fault
 * `"permission"`, an `iotlb` entry's `perm` `"r"`).
 */
export function matchValue(allowed: Json, actual: unknown, ctx: ResolveContext, field: string, consts = true): boolean {
  const sub = (x: Json, a: unknown, f: string = field): boolean => matchValue(x, a, ctx, f, consts);
  if (isJsonObject(allowed) && !isRefObject(allowed) && !isByteSpec(allowed)) {
    const o = allowed;
    if (Array.isArray(o['in'])) return (o['in'] as readonly Json[]).some((x) => sub(x, actual));
    if (o['any'] === true) return actual !== undefined;
    // Sets over arrays: some element, every element, no element is in the set.
    if ('some' in o) return Array.isArray(actual) && actual.some((x, i) => sub(o['some'] as Json, x, `${field}[${i}]`));
    if ('every' in o) return Array.isArray(actual) && actual.every((x, i) => sub(o['every'] as Json, x, `${field}[${i}]`));
    if ('none' in o) return Array.isArray(actual) && !actual.some((x, i) => sub(o['none'] as Json, x, `${field}[${i}]`));
    if (isJsonObject(o['le32'])) {
      // Little-endian u32 words at byte offsets of a buffer; the other bytes are left open.
      if (!(actual instanceof Uint8Array)) return false;
      const view = new DataView(actual.buffer, actual.byteOffset, actual.length);
      return Object.entries(o['le32']).every(([off, want]) => {
        const at = Number(off);
        return at + 4 <= actual.length && sub(want as Json, view.getUint32(at, true), `${field}@${off}`);
      });
    }
    if (Array.isArray(o['all'])) return (o['all'] as readonly Json[]).every((x) => sub(x, actual));
    if (o['aligned'] !== undefined) {
      const a = toBig(actual);
      const n = toBig(resolveValue(o['aligned'] as Json, ctx, field, true));
      return a !== undefined && n !== undefined && n > 0n && a % n === 0n;
    }
    if ('not' in o) return !sub(o['not'] as Json, actual);
    if (Array.isArray(o['range'])) {
      const [lo, hi] = (o['range'] as readonly Json[]).map((x) => toBig(resolveValue(x, ctx, field, true)));
      const a = toBig(actual);
      return a !== undefined && lo !== undefined && hi !== undefined && a >= lo && a <= hi;
    }
    if (typeof actual !== 'object' || actual === null) return false;
    return Object.entries(o).every(([k, x]) => sub(x as Json, getPath(actual, k), `${field}.${k}`));
  }
  if (isByteSpec(allowed)) {
    const want = resolveValue(allowed, ctx, field, true);
    return actual instanceof Uint8Array && want instanceof Uint8Array && sameBytes(actual, want);
  }
  if (Array.isArray(allowed)) {
    return Array.isArray(actual) && actual.length === allowed.length && allowed.every((x, i) => sub(x, actual[i], `${field}[${i}]`));
  }
  if (typeof allowed === 'boolean') return actual === allowed;
  const want = resolveValue(allowed, ctx, field, consts);
  const a = toBig(actual);
  const w = toBig(want);
  if (a !== undefined && w !== undefined) return a === w;
  return want === actual;
}

export function render(v: unknown): string {
  if (typeof v === 'bigint') return v > 0xffffn ? `0x${v.toString(16)}` : v.toString();
  if (v instanceof Uint8Array) return `hex:${Buffer.from(v).toString('hex')}`;
  if (Array.isArray(v)) return `[${v.map(render).join(',')}]`;
  if (typeof v === 'object' && v !== null) return `{${Object.entries(v).map(([k, x]) => `${k}:${render(x)}`).join(',')}}`;
  return String(v);
}

/** Violations of an expectation (empty = the result is in the allowed set). */
export function checkExpect(e: StepExpect, obs: Observed, ctx: ResolveContext): string[] {
  const v: string[] = [];
  const got = obs.status === 'ok' ? `ok (ret ${obs.ret ?? 0})` : `${errnoName(obs.errno ?? 0)}`;
  if (e.ok !== undefined && (obs.status === 'ok') !== e.ok) v.push(`expected ${e.ok ? 'success' : 'failure'}, got ${got}`);
  if (e.errno && (obs.status !== 'failed' || !e.errno.includes(errnoName(obs.errno ?? 0)))) {
    v.push(`expected errno ${e.errno.join('|')}, got ${got}`);
  }
  if (e.ret !== undefined && !matchValue(e.ret, obs.ret, ctx, 'ret')) v.push(`ret: expected ${render(e.ret)}, got ${render(obs.ret)}`);
  for (const [path, allowed] of Object.entries(e.out ?? {})) {
    const actual = getPath(obs.out, path);
    if (!matchValue(allowed, actual, ctx, `out.${path}`)) v.push(`out.${path}: expected ${render(allowed)}, got ${render(actual)}`);
  }
  for (const [path, allowed] of Object.entries(e.result ?? {})) {
    const actual = getPath(obs.result, path);
    // Results of environment ops are not struct fields: a string there is a string.
    if (!matchValue(allowed, actual, ctx, `result.${path}`, false)) v.push(`result.${path}: expected ${render(allowed)}, got ${render(actual)}`);
  }
  for (const [path, allowed] of Object.entries(e.buffers ?? {})) {
    const actual = obs.buffers?.[path];
    if (!matchValue(allowed, actual, ctx, `buffers.${path}`)) v.push(`buffers.${path}: expected ${render(allowed)}, got ${render(actual)}`);
  }
  if (e.sameAs !== undefined) {
    const prev = obs.earlier?.(e.sameAs);
    const was = prev === undefined ? 'nothing' : prev.status === 'ok' ? 'ok' : prev.status === 'failed' ? errnoName(prev.errno ?? 0) : prev.status;
    const now = obs.status === 'ok' ? 'ok' : errnoName(obs.errno ?? 0);
    if (was !== now) v.push(`expected the result of step ${e.sameAs} (${was}), got ${now}`);
  }
  if (e.oneOf && !e.oneOf.some((alt) => checkExpect(alt, obs, ctx).length === 0)) {
    v.push(`none of ${e.oneOf.length} allowed results: ${e.oneOf.map((alt) => checkExpect(alt, obs, ctx).join('; ')).join(' / ')}`);
  }
  return v;
}

/** Paths (errno, ret, out.X, result.X, buffers.X) an expectation leaves open to more than one value. */
export function openPaths(e: StepExpect): Set<string> {
  const paths = new Set<string>();
  if (e.errno && e.errno.length > 1) paths.add('errno');
  const isSet = (x: Json): boolean => typeof x === 'object' && x !== null && !Array.isArray(x) && SET_KEYS.some((k) => k in x);
  if (e.ret !== undefined && isSet(e.ret)) paths.add('ret');
  for (const [group, m] of [['out', e.out], ['result', e.result], ['buffers', e.buffers]] as const) {
    for (const [p, x] of Object.entries(m ?? {})) if (isSet(x)) paths.add(`${group}.${p}`);
  }
  if (e.oneOf) {
    // Alternatives leave open whatever they disagree on; treat every path any
    // alternative names, plus the status, as open.
    paths.add('status');
    paths.add('errno');
    paths.add('ret');
    for (const alt of e.oneOf) {
      for (const p of openPaths(alt)) paths.add(p);
      for (const [group, m] of [['out', alt.out], ['result', alt.result], ['buffers', alt.buffers]] as const) {
        for (const p of Object.keys(m ?? {})) paths.add(`${group}.${p}`);
      }
    }
  }
  return paths;
}

