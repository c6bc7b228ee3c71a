/**
 * A failed case as a counterexample: the steps that ran, as a numbered ioctl
 * program with the expected versus the observed result and the oracle that
 * objected — printed for people, and saved as a replay file: a program in
 * the corpus format (conformance/programs/FORMAT.md) with `replay` metadata,
 * which `iommufd-spec replay FILE --impl …` runs again under the oracles and
 * `iommufd-spec exec` runs as a plain program.
 */
import type { Request, Response } from '../../spec/contract/types.ts';
import type { Profile } from '../../spec/uapi/profiles.ts';
import { errnoName } from '../../spec/uapi/errno.ts';
import { render } from '../programs/expect.ts';
import type { Json, Program, Step, StepExpect } from '../programs/types.ts';
import { PROGRAM_FORMAT } from '../programs/types.ts';
import type { Objection } from './oracles/oracle.ts';
import { commandName, statusOf, type TraceStep } from './session.ts';
import { Ref, type StepTemplate, type Tmpl, toProgramStep } from './step.ts';

export interface ReplayMeta {
  readonly implementation: string;
  readonly seed: number;
  readonly path?: string;
  readonly replayPath?: string;
  readonly block?: number;
  readonly oracle: string;
  readonly property: string;
  readonly step: number;
  readonly expected?: string;
  readonly observed?: string;
  readonly message: string;
  readonly oracles: readonly string[];
}

function statusExpect(req: Request | undefined, res: Response | undefined): StepExpect | undefined {
  if (!req || !res) return undefined;
  const s = statusOf(req, res);
  if (s.status === 'ok') return { ok: true };
  if (s.status === 'failed') return { errno: [errnoName(s.errno ?? 0) ?? `E${s.errno}`] };
  return undefined;
}

/** The allowed result an objection states, as an expect set (when it is a status or an errno set). */
function objectionExpect(o: Objection): StepExpect | undefined {
  const e = o.expected ?? '';
  if (e === 'ok') return { ok: true };
  const ret = /^ret=(-?\d+)$/.exec(e);
  if (ret) return { ok: true, ret: Number(ret[1]) };
  const names = e.split('|');
  if (names.length > 0 && names.every((n) => /^E[A-Z0-9]+$/.test(n))) return { errno: names };
  return undefined;
}

export type BindKinds = ReadonlyMap<string, { readonly op: string; readonly path: string }>;

/** Which bindings can stand for a request field: the op and result path that hand out that kind of handle. */
function kindOk(field: string, k: { op: string; path: string } | undefined): boolean {
  if (!k) return false;
  switch (field) {
    case 'device':
      return k.op === 'device_create' && k.path === 'device';
    case 'vm':
      return k.op === 'kvm_create';
    case 'buffer':
      return k.op === 'mem_alloc';
    case 'fd':
      return k.path === 'fd' || k.path.endsWith('_fd');
    default:
      return false;
  }
}

/** A probe request (the implementation's handles) as a template naming the bound values. */
export function probeTemplate(req: Request, bindings: ReadonlyMap<string, unknown>, kinds: BindKinds = new Map()): StepTemplate {
  const entries = [...bindings.entries()].reverse();
  const nameOf = (v: unknown, field: string): Ref | undefined => {
    for (const [name, b] of entries) {
      if (!kindOk(field, kinds.get(name))) continue;
      if (field === 'buffer' && typeof b === 'object' && b !== null && (b as Record<string, unknown>)['buffer'] === v) return new Ref(name, 'buffer');
      if (field !== 'buffer' && b === v) return new Ref(name);
    }
    return undefined;
  };
  const fields: Record<string, Tmpl> = {};
  for (const [k, v] of Object.entries(req)) {
    if (k === 'op') continue;
    const t = k === 'device' || k === 'vm' || k === 'fd' || k === 'buffer' ? nameOf(v, k) : undefined;
    fields[k] = t ?? (v as Tmpl);
  }
  return { op: req.op, fields };
}

/** The expect set of a probe step, where the objection's expected value is a plain observation. */
function probeExpect(o: Objection): StepExpect | undefined {
  const op = o.probe?.request.op;
  if (op === 'translate' && o.expected === 'not mapped') return { result: { mapped: false } };
  if (op === 'translate' && o.expected === 'read-only') return { result: { write: false } };
  if (op === 'dma' && o.expected === 'a fault') return { result: { ok: false } };
  if (op === 'kvm_state' && o.expected === 'noncoherentDma: true') return { result: { noncoherentDma: true } };
  return undefined;
}

export function counterexampleProgram(trace: readonly TraceStep[], objections: readonly Objection[], meta: ReplayMeta, profile: Profile, bindings: ReadonlyMap<string, unknown>, expectedOf?: (step: number) => Response | undefined, kinds: BindKinds = new Map()): Program {
  const failing = objections[0] as Objection;
  const steps: Step[] = [];
  for (const t of trace) {
    if (t.template.op === 'end') continue;
    if (t.status === 'skipped' && !t.response) continue;
    const isFailing = t.step === failing.step && !failing.probe;
    const ref = expectedOf?.(t.step);
    let expect = isFailing ? (objectionExpect(failing) ?? statusExpect(t.request, ref)) : (statusExpect(t.request, ref) ?? statusExpect(t.request, t.response));
    if (t.status === 'error') expect = undefined;
    const note = isFailing ? `${failing.oracle} objects: ${failing.message}` : undefined;
    steps.push(toProgramStep(t.template, { ...(expect && { expect }), ...(note && { note }) }));
    if (t.step === failing.step && failing.probe) {
      // The observation that showed it, and the state-changing probes (teardown) before it.
      for (const p of t.probes) {
        if (p === undefined) break;
        const isIt = p.request === failing.probe.request;
        if (!isIt && p.request.op !== 'close' && p.request.op !== 'kvm_destroy') continue;
        const tmpl = probeTemplate(p.request, bindings, kinds);
        const pe = isIt ? { note: `${failing.oracle} objects: ${failing.message} (expected ${failing.expected ?? '?'}, observed ${failing.observed ?? '?'})` } : {};
        const expect = isIt ? probeExpect(failing) : p.request.op === 'close' ? { ok: true } : undefined;
        steps.push(toProgramStep(tmpl, { ...pe, ...(expect && { expect }) }));
        if (isIt) break;
      }
    }
  }
  const replay: { [k: string]: Json } = {
    implementation: meta.implementation,
    seed: meta.seed,
    ...(meta.path !== undefined && { path: meta.path }),
    ...(meta.replayPath !== undefined && { replayPath: meta.replayPath }),
    ...(meta.block !== undefined && { block: meta.block }),
    oracle: meta.oracle,
    oracles: [...meta.oracles],
    property: meta.property,
    step: meta.step,
    ...(meta.expected !== undefined && { expected: meta.expected }),
    ...(meta.observed !== undefined && { observed: meta.observed }),
    message: meta.message,
  };
  return {
    format: PROGRAM_FORMAT,
    name: `suite.${meta.property.replace(/[^a-z0-9_.-]/gi, '-').toLowerCase()}.s${meta.seed >>> 0}${meta.block !== undefined ? `b${meta.block}` : ''}`,
    description: `Counterexample found by the conformance suite against ${meta.implementation}: ${failing.message}`.slice(0, 2000),
    profiles: [profile],
    replay,
    steps,
  };
}

/** Steps that ran (the shrunk length). */
export function executedLength(trace: readonly TraceStep[]): number {
  return trace.filter((t) => t.template.op !== 'end' && t.response !== undefined).length;
}

/** Of those, the ioctl commands (the rest are environment operations and observations: open, mem_alloc, device_create, dma…). */
export function executedIoctls(trace: readonly TraceStep[]): number {
  return trace.filter((t) => t.template.op === 'ioctl' && t.response !== undefined).length;
}

function show(v: unknown): string {
  if (v instanceof Ref) return v.toString();
  if (typeof v === 'bigint') return v > 0xffffn ? `0x${v.toString(16)}` : v.toString();
  if (v instanceof Uint8Array) return `hex:${Buffer.from(v).toString('hex').slice(0, 32)}${v.length > 16 ? '…' : ''}`;
  if (Array.isArray(v)) return `[${v.map(show).join(',')}]`;
  if (typeof v === 'object' && v !== null) return `{${Object.entries(v).map(([k, x]) => `${k}: ${show(x)}`).join(', ')}}`;
  return String(v);
}

function templateLine(t: StepTemplate): string {
  const f = t.fields as Record<string, unknown>;
  if (t.op === 'ioctl') {
    const arg = f['arg'] as { kind: string; fields?: Record<string, unknown>; tail?: Uint8Array; bytes?: unknown; value?: unknown; readOnly?: boolean };
    const body = arg.kind === 'struct' ? show(arg.fields ?? {}) : arg.kind === 'int' ? show(arg.value) : arg.kind === 'raw' && arg.bytes instanceof Uint8Array ? `raw ${show(arg.bytes)}` : arg.kind;
    // A raw request number is read as the kernel's headers write them.
    const cmd = typeof f['cmd'] === 'number' ? `0x${(f['cmd'] >>> 0).toString(16)}` : String(f['cmd']);
    return `ioctl(${show(f['fd'])}, ${cmd}, ${body}${arg.tail ? `, tail ${show(arg.tail)}` : ''}${arg.readOnly ? ', read-only' : ''})`;
  }
  return `${t.op}(${Object.entries(f).map(([k, x]) => `${k}: ${show(x)}`).join(', ')})`;
}

function resultLine(t: TraceStep): string {
  if (!t.response) return t.reason ? `(${t.status}: ${t.reason})` : `(${t.status})`;
  if (!t.response.ok) return `error ${t.response.error.code}: ${t.response.error.message}`;
  const r = t.response.result as unknown as Record<string, unknown>;
  const s = t.request ? statusOf(t.request, t.response) : { status: 'ok' as const };
  const status = s.status === 'failed' ? `-1 ${errnoName(s.errno ?? 0) ?? s.errno}` : 'ok';
  const binds = Object.entries(t.template.bind ?? {}).map(([n, p]) => {
    const base = t.template.op === 'ioctl' ? { ret: r['ret'], out: r['out'], buffers: r['buffers'] } : r;
    let v: unknown = base;
    for (const part of p === '.' ? [] : p.split('.')) v = (v as Record<string, unknown> | undefined)?.[part];
    return `$${n}=${render(typeof v === 'object' && v !== null && 'buffer' in v ? (v as { buffer: unknown }).buffer : v)}`;
  });
  return `${status}${binds.length ? `  ${binds.join(' ')}` : ''}`;
}

/** The counterexample as people read it: numbered steps, results, the objection. */
export function formatCounterexample(trace: readonly TraceStep[], objections: readonly Objection[], expectedOf?: (step: number) => Response | undefined): string {
  const lines: string[] = [];
  const failing = new Set(objections.map((o) => o.step));
  for (const t of trace) {
    if (t.template.op === 'end') {
      if (!failing.has(t.step)) continue;
      lines.push(`  ${String(t.step).padStart(3)}. (end of case: full sweep, then every file and VM closed)`);
    } else {
      if (t.status === 'skipped' && !t.response) continue;
      lines.push(`  ${String(t.step).padStart(3)}. ${templateLine(t.template)}`);
      lines.push(`       → ${resultLine(t)}`);
      const ref = expectedOf?.(t.step);
      if (failing.has(t.step) && ref && t.request) {
        const s = statusOf(t.request, ref);
        lines.push(`       reference: ${s.status === 'failed' ? errnoName(s.errno ?? 0) : s.status}`);
      }
    }
    for (const o of objections.filter((x) => x.step === t.step)) {
      if (o.probe) lines.push(`       observed by ${o.probe.request.op}(${Object.entries(o.probe.request).filter(([k]) => k !== 'op').map(([k, v]) => `${k}: ${show(v)}`).join(', ')})`);
      lines.push(`       ✗ ${o.oracle} [${o.property}${o.clause ? `, ${o.clause}` : ''}]: ${o.message}`);
      if (o.expected !== undefined || o.observed !== undefined) lines.push(`         expected: ${o.expected ?? '?'}   observed: ${o.observed ?? '?'}`);
    }
  }
  return lines.join('\n');
}

export function describeObjection(o: Objection): string {
  return `${o.property} at step ${o.step} (${o.signature.command}): ${o.message}`;
}

export { commandName };
