/**
 * The program runner: resolves each step against the bindings made so far,
 * sends the steps to an adapter (in batches where no step needs a result of
 * the batch it is in), binds names from results, and checks `expect` sets.
 * Steps the implementation's capabilities lack are skipped with the reason.
 */
import type { Adapter, Capabilities, IoctlArg, Profile, Request, Response, StructValue } from '../../spec/contract/types.ts';
import { normalizeStructKinds } from '../../spec/contract/struct-kinds.ts';
import { requestFromWire, requestToWire, WireFormatError } from '../../spec/contract/wire.ts';
import { errnoName } from './errno.ts';
import { checkExpect, type Observed } from './expect.ts';
import { STEP_META_KEYS } from './load.ts';
import type { Json, JsonObject, LoadedProgram, Program, Step } from './types.ts';
import { collectRefs, constantNames, constantValue, getPath, isRefObject, resolveValue, ResolveError, type Value } from './values.ts';

export type StepStatus = 'ok' | 'failed' | 'skipped' | 'error';

export interface StepOutcome {
  /** 1-based step number. */
  readonly step: number;
  readonly op: string;
  /** ioctl: the command name (or number as text); IOMMU_TEST_CMD adds the test op. */
  readonly command?: string;
  readonly testOp?: string;
  /** ok: succeeded; failed: returned an errno; skipped: capabilities lack it; error: protocol or program error. */
  readonly status: StepStatus;
  readonly ret?: number;
  readonly errno?: number;
  /** ioctl: the struct as the implementation left it. */
  readonly out?: StructValue;
  /** Other ops: the result object. */
  readonly result?: unknown;
  readonly buffers?: { readonly [path: string]: Uint8Array };
  /** The request as sent (after resolution). */
  readonly request?: Request;
  /** Field paths of the ioctl struct whose input came from a reference or pointer
   * argument: they differ between implementations by construction. */
  readonly symbolic: readonly string[];
  readonly reason?: string;
  /** Expectation violations (empty when the step's expect holds or it has none). */
  readonly violations: readonly string[];
}

export interface ProgramRun {
  readonly program: Program;
  readonly file: string;
  readonly implementation: string;
  readonly profile: Profile;
  /** Set when the whole program was skipped (profile or requirements). */
  readonly skipped?: string;
  /** Why it was skipped: it does not apply to the profile (nothing to list), or the
   * implementation lacks what it requires (an expectations entry must list it). */
  readonly skipKind?: 'profile' | 'unsupported';
  readonly steps: readonly StepOutcome[];
}

export interface RunOptions {
  /** Send independent steps in batches (default true). */
  readonly batch?: boolean;
  /** Called for every step the adapter executed, in step order, with the
   * resolved request, the adapter's response and the recorded outcome (the
   * lifecycle machines' `--machines` check observes the run through it). */
  readonly onStep?: (step: ExecutedStep) => void;
}

/** A step the adapter executed, as the per-step observer sees it. */
export interface ExecutedStep {
  /** The program's name and the capability report it runs against. */
  readonly program: string;
  readonly capabilities: Capabilities;
  readonly step: number;
  readonly request: Request;
  readonly response: Response;
  readonly outcome: StepOutcome;
}

/** Test-op number → name, per profile (from the constants table). */
function testOpName(profile: Profile, value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  return testOpNames(profile).get(value as number);
}

const TEST_OP_NAMES = new Map<Profile, ReadonlyMap<unknown, string>>();

/** Value → the first IOMMU_TEST_OP_ constant of that value, per profile (built once: every test-op step asks). */
function testOpNames(profile: Profile): ReadonlyMap<unknown, string> {
  let names = TEST_OP_NAMES.get(profile);
  if (names === undefined) {
    const m = new Map<unknown, string>();
    for (const name of constantNames(profile)) {
      const v = constantValue(profile, name);
      if (name.startsWith('IOMMU_TEST_OP_') && !m.has(v)) m.set(v, name);
    }
    names = m;
    TEST_OP_NAMES.set(profile, names);
  }
  return names;
}

/** Why a program cannot run on this implementation, if it cannot. */
export function programSkipReason(program: Program, caps: Capabilities): string | undefined {
  if (!program.profiles.includes(caps.profile)) return `applies to profiles ${program.profiles.join(', ')}, not ${caps.profile}`;
  return missingRequirement(program, caps);
}

/** The first requirement (FORMAT.md `requires`) the capability report lacks, as a reason. */
export function missingRequirement(program: Program, caps: Capabilities): string | undefined {
  const r = program.requires;
  for (const c of r?.commands ?? []) if (caps.commands[c]?.supported !== true) return `needs command ${c}: ${reasonOf(caps.commands[c])}`;
  for (const t of r?.testOps ?? []) if (caps.testOps[t]?.supported !== true) return `needs test op ${t}: ${reasonOf(caps.testOps[t])}`;
  for (const o of r?.ops ?? []) {
    const s = caps.ops[o as keyof Capabilities['ops']];
    if (s?.supported !== true) return `needs op ${o}: ${reasonOf(s)}`;
  }
  for (const f of r?.deviceFeatures ?? []) {
    const s = caps.deviceFeatures[f as keyof Capabilities['deviceFeatures']];
    if (s?.supported !== true) return `needs device feature ${f}: ${reasonOf(s)}`;
  }
  for (const f of r?.features ?? []) {
    const s = caps.features?.[f];
    if (s?.supported !== true) return `needs feature ${f}: ${reasonOf(s)}`;
  }
  return undefined;
}

function reasonOf(s: { readonly supported: boolean; readonly reason?: string } | undefined): string {
  if (!s) return 'not listed in the capability report';
  return s.supported ? 'supported' : (s.reason ?? 'unsupported');
}

const DEVICE_FEATURE_OF: { readonly [k: string]: keyof Capabilities['deviceFeatures'] } = {
  group: 'multiDeviceGroups',
  pasidWidth: 'pasid',
  dirtyTracking: 'dirtyTracking',
  enforceCacheCoherency: 'enforceCacheCoherency',
  noSnoop: 'noSnoop',
  hugeIova: 'hugeIova',
  reservedRegions: 'reservedRegions',
};

/** Static capability check of one resolved request: a reason to skip, if any.
 * Only an explicit `supported: false` skips; an unlisted name is tried, and an
 * 'unsupported' protocol error then skips it. */
export function stepSkipReason(req: Request, caps: Capabilities): string | undefined {
  if (req.op === 'batch' || req.op === 'capabilities') return undefined;
  const opSupport = caps.ops[req.op];
  if (opSupport && !opSupport.supported) return `op ${req.op}: ${opSupport.reason}`;
  if (req.op === 'ioctl' && typeof req.cmd === 'string') {
    const c = caps.commands[req.cmd];
    if (c && !c.supported) return `${req.cmd}: ${c.reason}`;
    if (req.cmd === 'IOMMU_TEST_CMD' && req.arg.kind === 'struct') {
      const name = testOpName(caps.profile, req.arg.fields['op']);
      const t = name ? caps.testOps[name] : undefined;
      if (name && t && !t.supported) return `${name}: ${t.reason}`;
    }
  }
  if (req.op === 'device_create') {
    for (const [key, feature] of Object.entries(DEVICE_FEATURE_OF)) {
      const v = (req.spec as unknown as Record<string, unknown>)[key];
      if (v === undefined || v === false || v === 0 || (Array.isArray(v) && v.length === 0)) continue;
      const s = caps.deviceFeatures[feature];
      if (s && !s.supported) return `device feature ${feature}: ${s.reason}`;
    }
  }
  return undefined;
}

/** Struct paths whose input was a reference or a pointer argument (see StepOutcome.symbolic). */
function symbolicPaths(fields: Json | undefined, prefix = ''): string[] {
  if (typeof fields === 'string') return fields.startsWith('$') ? [prefix] : [];
  if (typeof fields !== 'object' || fields === null) return [];
  if (Array.isArray(fields)) return fields.flatMap((x, i) => symbolicPaths(x, prefix ? `${prefix}.${i}` : String(i)));
  const o = fields as JsonObject;
  if (isRefObject(o) || 'data' in o || 'room' in o) return [prefix];
  return Object.entries(o).flatMap(([k, x]) => symbolicPaths(x as Json, prefix ? `${prefix}.${k}` : k));
}

function structFieldsJson(step: Step): Json | undefined {
  if (step['fields'] !== undefined) return step['fields'] as Json;
  const arg = step['arg'] as JsonObject | undefined;
  return arg?.['fields'];
}

/** A step's JSON → the contract request, resolving references against `bindings`. */
export function resolveStep(step: Step, profile: Profile, bindings: ReadonlyMap<string, unknown>): Request {
  const ctx = { profile, bindings };
  const req: Record<string, Value> = { op: step.op };
  for (const [key, value] of Object.entries(step)) {
    if (STEP_META_KEYS.has(key) || value === undefined) continue;
    if (key === 'arg') {
      // Constants are allowed in the struct fields and the int value, not in `kind`.
      const arg: Record<string, Value> = {};
      for (const [k, x] of Object.entries(value as JsonObject)) arg[k] = resolveValue(x as Json, ctx, `arg.${k}`, k === 'fields' || k === 'value');
      req['arg'] = arg;
      // An int argument is a bigint in the contract.
      if (arg['kind'] === 'int' && typeof arg['value'] === 'number') arg['value'] = BigInt(arg['value']);
    } else {
      req[key] = resolveValue(value as Json, ctx, key, false);
    }
  }
  if (step['fields'] !== undefined) {
    const arg: Record<string, Value> = { kind: 'struct', fields: resolveValue(step['fields'] as Json, ctx, 'fields', true) };
    if (step['tail'] !== undefined) arg['tail'] = resolveValue(step['tail'] as Json, ctx, 'tail', false);
    if (step['truncate'] !== undefined) arg['truncate'] = resolveValue(step['truncate'] as Json, ctx, 'truncate', false);
    if (step['readOnly'] !== undefined) arg['readOnly'] = step['readOnly'] as boolean;
    req['arg'] = arg;
  }
  // A program writes numerals the same way whatever a member's width; the
  // contract wants numbers for 32-bit members and u64s for 64-bit ones (ADAPTER.md §7.4).
  if (req['op'] === 'ioctl' && (typeof req['cmd'] === 'string' || typeof req['cmd'] === 'number')) {
    req['arg'] = normalizeStructKinds(profile, req['cmd'], req['arg'] as unknown as IoctlArg) as unknown as Value;
    return req as unknown as Request;
  }
  return normalizeEnvironmentRequest(req as unknown as Request);
}

/**
 * The same for the environment ops (dma and translate iovas, set_process's
 * rlimitMemlock are u64s): the wire's own decoding gives each field the type
 * the contract wants, as a stdio adapter receives it, and names a field that
 * has none (an in-process implementation would otherwise get a number where
 * it computes with a bigint).
 */
function normalizeEnvironmentRequest(req: Request): Request {
  try {
    return requestFromWire(requestToWire(req));
  } catch (err) {
    if (err instanceof WireFormatError) throw new ResolveError(err.field, err.message);
    throw err;
  }
}

/** Interprets one response: the observed status and values. */
function interpret(req: Request, res: Response): Pick<StepOutcome, 'status' | 'ret' | 'errno' | 'out' | 'result' | 'buffers' | 'reason'> {
  if (!res.ok) {
    const e = res.error;
    const where = e.field ? ` (field ${e.field})` : '';
    if (e.code === 'unsupported') return { status: 'skipped', reason: `unsupported: ${e.message}${where}` };
    return { status: 'error', reason: `adapter ${e.code} error: ${e.message}${where}` };
  }
  const r = res.result as unknown as Record<string, unknown>;
  if (req.op === 'ioctl') {
    const ret = r['ret'] as number;
    const errno = r['errno'] as number;
    return {
      status: ret < 0 || errno !== 0 ? 'failed' : 'ok',
      ret,
      errno,
      out: r['out'] as StructValue | undefined,
      buffers: r['buffers'] as StepOutcome['buffers'],
    };
  }
  if (req.op === 'open' || req.op === 'open_device') {
    const fd = r['fd'] as number;
    const errno = (r['errno'] as number | undefined) ?? 0;
    return { status: fd < 0 || errno !== 0 ? 'failed' : 'ok', ret: fd, errno, result: r };
  }
  if (typeof r['ret'] === 'number' && typeof r['errno'] === 'number') {
    const ret = r['ret'];
    const errno = r['errno'];
    return { status: ret < 0 || errno !== 0 ? 'failed' : 'ok', ret, errno, result: r };
  }
  return { status: 'ok', result: r };
}

/** What `bind` paths walk: ioctl → {ret, errno, out, buffers}; other ops → their result. */
function bindable(o: StepOutcome): unknown {
  return o.op === 'ioctl' ? { ret: o.ret, errno: o.errno, out: o.out, buffers: o.buffers } : o.result;
}

interface Pending {
  readonly index: number;
  readonly step: Step;
  readonly request: Request;
}

export async function runProgram(loaded: LoadedProgram, adapter: Adapter, caps: Capabilities, options: RunOptions = {}): Promise<ProgramRun> {
  const { program, file } = loaded;
  const base = { program, file, implementation: caps.implementation.name, profile: caps.profile };
  const skip = programSkipReason(program, caps);
  if (skip) return { ...base, skipped: skip, skipKind: program.profiles.includes(caps.profile) ? 'unsupported' : 'profile', steps: [] };

  const profile = caps.profile;
  const bindings = new Map<string, unknown>();
  /** Names whose binding step did not succeed, with why (for dependants). */
  const unbound = new Map<string, { readonly step: number; readonly status: StepStatus }>();
  const outcomes: StepOutcome[] = [];
  let pending: Pending[] = [];
  const pendingNames = new Set<string>();
  const useBatch = options.batch !== false;

  const finish = (p: Pending, res: Response): void => {
    const seen = interpret(p.request, res);
    const outcome = baseOutcome(p, profile, seen);
    record(outcome, p.step);
    options.onStep?.({ program: program.name, capabilities: caps, step: p.index + 1, request: p.request, response: res, outcome: outcomes[outcomes.length - 1] as StepOutcome });
  };

  const record = (outcome: StepOutcome, step: Step): void => {
    let o = outcome;
    // The expect set is checked first: a result outside it binds nothing, so
    // the steps that need it are skipped rather than run on a suspect value.
    if ((o.status === 'ok' || o.status === 'failed') && step.expect) {
      const earlier = (n: number): StepOutcome | undefined => outcomes.find((x) => x.step === n);
      const obs: Observed = { status: o.status, ret: o.ret, errno: o.errno, out: o.out, result: o.result, buffers: o.buffers, earlier };
      try {
        o = { ...o, violations: checkExpect(step.expect, obs, { profile, bindings }) };
      } catch (err) {
        if (!(err instanceof ResolveError)) throw err;
        o = { ...o, violations: [`expect: ${err.message}`] };
      }
    }
    if (o.status === 'ok' && o.violations.length === 0) {
      for (const [name, path] of Object.entries(step.bind ?? {})) {
        const v = getPath(bindable(o), path);
        if (v === undefined) {
          o = { ...o, status: 'error', reason: `bind ${name}: the result has no ${path}` };
          break;
        }
        bindings.set(name, v);
        unbound.delete(name);
      }
    }
    if (o.status !== 'ok' || o.violations.length > 0) {
      for (const name of Object.keys(step.bind ?? {})) {
        bindings.delete(name);
        unbound.set(name, { step: o.step, status: o.violations.length > 0 ? 'failed' : o.status });
      }
    }
    outcomes.push(o);
  };

  const flush = async (): Promise<void> => {
    if (pending.length === 0) return;
    const batch = pending;
    pending = [];
    pendingNames.clear();
    const responses =
      useBatch && batch.length > 1 ? await adapter.batch(batch.map((p) => p.request)) : [await adapter.call((batch[0] as Pending).request)];
    batch.forEach((p, i) => {
      const res = responses[i];
      finish(p, res ?? { ok: false, error: { code: 'internal', message: 'the batch answered fewer responses than requests' } });
    });
  };

  for (const [index, step] of program.steps.entries()) {
    const refs = collectRefs(stepRequestJson(step));
    if ([...refs].some((n) => pendingNames.has(n)) || !useBatch) await flush();
    const n = index + 1;
    const missing = [...refs].find((name) => unbound.has(name));
    if (missing) {
      const dep = unbound.get(missing) as { step: number; status: StepStatus };
      // A step whose input an earlier step did not produce is not run: the
      // earlier step's own result (a violation or an error) is what failed.
      const command = step.op === 'ioctl' ? String(step['cmd']) : undefined;
      record({ step: n, op: step.op, command, status: 'skipped', symbolic: [], violations: [], reason: `needs $${missing} from step ${dep.step} (${dep.status})` }, step);
      continue;
    }
    let request: Request;
    try {
      request = resolveStep(step, profile, bindings);
    } catch (err) {
      if (!(err instanceof ResolveError)) throw err;
      const command = step.op === 'ioctl' ? String(step['cmd']) : undefined;
      record({ step: n, op: step.op, command, status: 'error', symbolic: [], violations: [], reason: err.message }, step);
      continue;
    }
    const why = stepSkipReason(request, caps);
    if (why) {
      await flush();
      record({ ...baseOutcome({ index, step, request }, profile, { status: 'skipped' }), reason: why }, step);
      continue;
    }
    pending.push({ index, step, request });
    for (const name of Object.keys(step.bind ?? {})) pendingNames.add(name);
  }
  await flush();
  return { ...base, steps: outcomes.sort((a, b) => a.step - b.step) };
}

function stepRequestJson(step: Step): Json {
  const o: Record<string, Json> = {};
  for (const [k, v] of Object.entries(step)) if (k !== 'bind' && k !== 'note' && k !== 'expect' && v !== undefined) o[k] = v as Json;
  return o;
}

function baseOutcome(p: Pending, profile: Profile, seen: Pick<StepOutcome, 'status'> & Partial<StepOutcome>): StepOutcome {
  const req = p.request;
  const command = req.op === 'ioctl' ? String(req.cmd) : undefined;
  const testOp =
    req.op === 'ioctl' && req.cmd === 'IOMMU_TEST_CMD' && req.arg.kind === 'struct' ? testOpName(profile, req.arg.fields['op']) : undefined;
  return {
    step: p.index + 1,
    op: req.op,
    command,
    testOp,
    request: req,
    symbolic: symbolicPaths(structFieldsJson(p.step)),
    violations: [],
    ...seen,
  };
}

export function stepFailed(o: StepOutcome): boolean {
  return o.status === 'error' || o.violations.length > 0;
}

export function describeStatus(o: StepOutcome): string {
  switch (o.status) {
    case 'ok':
      return o.ret !== undefined ? `ok ret=${o.ret}` : 'ok';
    case 'failed':
      return `${errnoName(o.errno ?? 0)} (ret=${o.ret ?? -1})`;
    default:
      return `${o.status}: ${o.reason ?? ''}`;
  }
}
