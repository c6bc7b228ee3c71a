/**
 * Step templates: one adapter request (contract v1) whose leaves may be
 * references to names bound by earlier steps. The same template is resolved
 * twice — against the implementation under test and against the reference —
 * so generation, execution, counterexamples and replay share one form:
 *
 *   generator → StepTemplate → resolve (impl side, ref side) → Request
 *   StepTemplate ↔ program step (conformance/programs/FORMAT.md)
 *
 * A reference names a binding and optionally a path into it and an offset
 * (`{ "$": "buf3", "field": "va", "add": 4096 }` in a program file). On the
 * implementation's side it is the bound value; on the reference's side an
 * object id or fd is translated through the symbolic table (ids compared
 * symbolically: see session.ts), everything else is the reference's own
 * binding of the same name.
 */
import type { Profile, Request } from '../../spec/contract/types.ts';
import type { Json, JsonObject, Step } from '../programs/types.ts';
import { STEP_META_KEYS } from '../programs/load.ts';
import { bytesOf, constExpr, getPath, isByteSpec, isJsonObject, isRefObject, parseNumeric, ResolveError } from '../programs/values.ts';

/** A reference to a bound name (plus a dotted path into its value and an offset). */
export class Ref {
  constructor(
    readonly name: string,
    readonly path: string = '',
    readonly add: bigint = 0n,
  ) {}
  toString(): string {
    return `$${this.name}${this.path ? '.' + this.path : ''}${this.add ? `+${this.add}` : ''}`;
  }
}

export type Tmpl = null | boolean | number | bigint | string | Uint8Array | Ref | readonly Tmpl[] | { readonly [k: string]: Tmpl };

/** A defect the generator put into a request on purpose, with the errno the
 * uAPI documents for it: when a request carries several, the kernel's check
 * order decides which errno wins, and the uAPI does not specify that order —
 * the differential oracle accepts any of them (an errno set). */
export interface Defect {
  readonly what: string;
  readonly errno: string;
  /** The struct field it is in (reserved and flag defects). */
  readonly field?: string;
  /** A defect of the ioctl's ABI (reserved field, flag bit, size, tail), which must be refused. */
  readonly abi?: boolean;
  /** Dispatch-level defects (struct size, non-zero tail) are checked before
   * any handler runs (include/uapi/linux/iommufd.h "General ioctl format"):
   * their errno is not open to reordering with handler checks. */
  readonly dispatch?: boolean;
}

export interface StepTemplate {
  readonly op: string;
  /** The request fields (everything but op). For ioctl: fd, cmd, arg. */
  readonly fields: { readonly [k: string]: Tmpl };
  /** name → dotted path into the step's result (see FORMAT.md `bind`). */
  readonly bind?: { readonly [name: string]: string };
  readonly defects?: readonly Defect[];
  readonly note?: string;
}

/** Looks a name up on one side; throws ResolveError when it is not bound. */
export type Lookup = (ref: Ref, field: string) => unknown;

/**
 * The path of the template node being resolved, one segment per level (a
 * key, or an array index): spelled out ("arg.fields.x[2]") only when a Ref
 * needs it, as building every node's path string was most of the
 * resolution's cost. A throw leaves it as it was; resolveStep starts it afresh.
 */
const pathStack: (string | number)[] = [];

function currentField(): string {
  let f = '';
  for (const seg of pathStack) f += typeof seg === 'number' ? `[${seg}]` : f === '' ? seg : `.${seg}`;
  return f;
}

function resolveTmpl(t: Tmpl, lookup: Lookup): unknown {
  if (t === null || typeof t !== 'object' || t instanceof Uint8Array) return t;
  if (t instanceof Ref) {
    const field = currentField();
    let v = lookup(t, field);
    if (t.add !== 0n) {
      if (typeof v === 'bigint') v = v + t.add;
      else if (typeof v === 'number') v = v + Number(t.add);
      else throw new ResolveError(field, `cannot add to a ${typeof v}`);
    }
    return v;
  }
  if (Array.isArray(t)) {
    const out = new Array<unknown>(t.length);
    for (let i = 0; i < t.length; i++) {
      pathStack.push(i);
      out[i] = resolveTmpl(t[i] as Tmpl, lookup);
      pathStack.pop();
    }
    return out;
  }
  const out: Record<string, unknown> = {};
  for (const k in t) {
    pathStack.push(k);
    out[k] = resolveTmpl((t as { readonly [k: string]: Tmpl })[k] as Tmpl, lookup);
    pathStack.pop();
  }
  return out;
}

/** The request a template stands for on one side. */
export function resolveStep(t: StepTemplate, lookup: Lookup): Request {
  pathStack.length = 0;
  const req = resolveTmpl(t.fields as Tmpl, lookup) as Record<string, unknown>;
  req['op'] = t.op;
  return req as unknown as Request;
}

/** Every name a template refers to. */
export function refsOf(t: StepTemplate): Set<string> {
  const out = new Set<string>();
  const walk = (x: Tmpl): void => {
    if (x instanceof Ref) out.add(x.name);
    else if (Array.isArray(x)) x.forEach(walk);
    else if (x !== null && typeof x === 'object' && !(x instanceof Uint8Array)) for (const k in x) walk((x as Record<string, Tmpl>)[k] as Tmpl);
  };
  walk(t.fields as Tmpl);
  return out;
}

/** Paths (dotted, from the request root) whose value comes from a reference. */
export function refPaths(t: StepTemplate): Map<string, Ref> {
  const out = new Map<string, Ref>();
  const walk = (x: Tmpl, path: string): void => {
    if (x instanceof Ref) out.set(path, x);
    else if (Array.isArray(x)) x.forEach((y, i) => walk(y as Tmpl, path ? `${path}.${i}` : String(i)));
    else if (x !== null && typeof x === 'object' && !(x instanceof Uint8Array)) {
      for (const k in x) walk((x as Record<string, Tmpl>)[k] as Tmpl, path ? `${path}.${k}` : k);
    }
  };
  walk(t.fields as Tmpl, '');
  return out;
}

// ---------------------------------------------------------------- to program JSON

function hex(b: Uint8Array): string {
  return Buffer.from(b).toString('hex');
}

function refJson(r: Ref): Json {
  if (r.add === 0n) return `$${r.name}${r.path ? '.' + r.path : ''}`;
  const o: Record<string, Json> = { $: r.name };
  if (r.path) o['field'] = r.path;
  o['add'] = r.add.toString();
  return o;
}

function tmplJson(t: Tmpl): Json {
  if (t === null || typeof t === 'boolean' || typeof t === 'number') return t;
  if (typeof t === 'bigint') return t.toString();
  if (typeof t === 'string') return t;
  if (t instanceof Uint8Array) return { hex: hex(t) };
  if (t instanceof Ref) return refJson(t);
  if (Array.isArray(t)) return t.map((x) => tmplJson(x as Tmpl));
  const o: Record<string, Json> = {};
  for (const k in t) o[k] = tmplJson((t as Record<string, Tmpl>)[k] as Tmpl);
  return o;
}

/** A string that the program format would read as a reference, numeral or
 * constant cannot be written as a plain string inside struct fields; the
 * generator never puts strings there (only numbers, bigints, bytes, refs). */
export function toProgramStep(t: StepTemplate, extra: { expect?: Step['expect']; note?: string } = {}): Step {
  const step: Record<string, unknown> = { op: t.op };
  for (const [k, v] of Object.entries(t.fields)) {
    if (t.op === 'ioctl' && k === 'arg' && isStructArg(v)) {
      const a = v as { fields: Tmpl; tail?: Uint8Array; truncate?: number; readOnly?: boolean };
      step['fields'] = tmplJson(a.fields);
      if (a.tail !== undefined) step['tail'] = tmplJson(a.tail);
      if (a.truncate !== undefined) step['truncate'] = a.truncate;
      if (a.readOnly) step['readOnly'] = true;
      continue;
    }
    if (k === 'arg') {
      const a = v as Record<string, Tmpl>;
      const o: Record<string, Json> = {};
      for (const [ak, av] of Object.entries(a)) o[ak] = av instanceof Uint8Array ? { hex: hex(av) } : tmplJson(av);
      step['arg'] = o;
      continue;
    }
    step[k] = tmplJson(v);
  }
  if (t.bind && Object.keys(t.bind).length) step['bind'] = { ...t.bind };
  if (extra.expect) step['expect'] = extra.expect;
  const note = [t.note, extra.note].filter(Boolean).join('; ');
  if (note) step['note'] = note;
  return step as Step;
}

function isStructArg(v: Tmpl): boolean {
  return v !== null && typeof v === 'object' && !(v instanceof Ref) && !(v instanceof Uint8Array) && !Array.isArray(v) && (v as Record<string, Tmpl>)['kind'] === 'struct';
}

// ---------------------------------------------------------------- from program JSON

const NUMERIC = /^-?(0x[0-9a-fA-F]+|[0-9]+)$/;
const REF_SHORT = /^\$([A-Za-z_][A-Za-z0-9_]*)((?:\.[A-Za-z0-9_]+)*)$/;

/** Program JSON value → template value. `consts`: inside ioctl struct fields and
 * int values, other strings are constant expressions of the profile. */
function compileValue(v: Json, profile: Profile, field: string, consts: boolean): Tmpl {
  if (v === null || typeof v === 'boolean' || typeof v === 'number') return v;
  if (typeof v === 'string') {
    const ref = REF_SHORT.exec(v);
    if (ref) return new Ref(ref[1] as string, (ref[2] ?? '').slice(1));
    if (NUMERIC.test(v)) return parseNumeric(v);
    if (consts) return constExpr(v, profile, field) as number | bigint;
    return v;
  }
  if (Array.isArray(v)) return v.map((x, i) => compileValue(x, profile, `${field}[${i}]`, consts));
  const o = v as JsonObject;
  if (isRefObject(o)) {
    if (o['u32at'] !== undefined || o['as'] !== undefined) throw new ResolveError(field, 'the suite replays references with field/add only (no u32at/as)');
    const add = o['add'];
    const n = add === undefined ? 0n : typeof add === 'number' ? BigInt(add) : typeof add === 'string' && NUMERIC.test(add) ? parseNumeric(add) : undefined;
    if (n === undefined) throw new ResolveError(`${field}.add`, 'not an integer');
    return new Ref(o['$'] as string, typeof o['field'] === 'string' ? o['field'] : '', n);
  }
  if (isByteSpec(o)) return bytesOf(o, field);
  const out: Record<string, Tmpl> = {};
  for (const [k, x] of Object.entries(o)) out[k] = compileValue(x as Json, profile, field ? `${field}.${k}` : k, consts);
  return out;
}

/** A program step → a template (for replay). Pointer arguments {data}/{room}
 * stay objects; u64 strings become bigints; constants are resolved for the profile. */
export function compileProgramStep(step: Step, profile: Profile): StepTemplate {
  const fields: Record<string, Tmpl> = {};
  for (const [key, value] of Object.entries(step)) {
    if (STEP_META_KEYS.has(key) || value === undefined) continue;
    if (key === 'arg') {
      const arg: Record<string, Tmpl> = {};
      for (const [k, x] of Object.entries(value as JsonObject)) arg[k] = compileValue(x as Json, profile, `arg.${k}`, k === 'fields' || k === 'value');
      if (arg['kind'] === 'int' && typeof arg['value'] === 'number') arg['value'] = BigInt(arg['value']);
      fields['arg'] = arg;
    } else {
      fields[key] = compileValue(value as Json, profile, key, false);
    }
  }
  if (step['fields'] !== undefined) {
    const arg: Record<string, Tmpl> = { kind: 'struct', fields: compileValue(step['fields'] as Json, profile, 'fields', true) };
    if (step['tail'] !== undefined) arg['tail'] = compileValue(step['tail'] as Json, profile, 'tail', false);
    if (step['truncate'] !== undefined) arg['truncate'] = compileValue(step['truncate'] as Json, profile, 'truncate', false);
    if (step['readOnly'] !== undefined) arg['readOnly'] = step['readOnly'] as boolean;
    fields['arg'] = arg;
  }
  return { op: step.op, fields, ...(step.bind && { bind: step.bind }), ...(step.note && { note: step.note }) };
}

/** The value a binding path selects in a step's result (FORMAT.md `bind`). */
export function bindable(op: string, result: unknown): unknown {
  if (op !== 'ioctl' || result === undefined) return result; // an adapter error has no result to bind from
  const r = result as { ret: number; errno: number; out?: unknown; buffers?: unknown };
  return { ret: r.ret, errno: r.errno, out: r.out, buffers: r.buffers };
}

export { getPath, isJsonObject };
