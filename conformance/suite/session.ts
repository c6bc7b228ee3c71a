/**
 * One case against the implementation under test: step templates are
 * resolved against what earlier steps bound, sent to the adapter (with a
 * per-command timeout), bound again from the answers, and shown to every
 * oracle. An objection the expectations do not cover ends the case with a
 * CaseFailure carrying the whole trace (the counterexample's raw material);
 * so does an adapter that crashes, hangs or breaks the protocol.
 */
import type { Adapter, Capabilities, Profile, Request, Response } from '../../spec/contract/types.ts';
import { TEST_OPS } from '../../spec/uapi/commands.ts';
import { AdapterError } from '../adapter/errors.ts';
import { stepSkipReason } from '../programs/run.ts';
import { ResolveError } from '../programs/values.ts';
import type { CaseContext, Objection, Oracle } from './oracles/oracle.ts';
import { bindable, getPath, type Ref, resolveStep, type StepTemplate } from './step.ts';
import { toNum } from './ranges.ts';

export type StepStatus = 'ok' | 'failed' | 'error' | 'skipped';

export interface Probe {
  readonly request: Request;
  readonly response?: Response;
}

export interface TraceStep {
  readonly step: number;
  readonly template: StepTemplate;
  request?: Request;
  response?: Response;
  status: StepStatus;
  reason?: string;
  readonly probes: Probe[];
  objections: Objection[];
  /** Objections an expectations entry covers. */
  known: Objection[];
}

/** Transport-level failure of the implementation: crash, hang, garbage, protocol violation. */
export class AdapterFailure extends Error {
  constructor(
    readonly kind: 'timeout' | 'exited' | 'bad-message' | 'spawn' | 'handshake' | 'closed' | 'not-found' | 'internal' | 'unsupported',
    message: string,
  ) {
    super(message);
    this.name = 'AdapterFailure';
  }
}

/** A case that failed: the objections and the trace up to them. */
export class CaseFailure extends Error {
  constructor(
    readonly objections: readonly Objection[],
    readonly trace: readonly TraceStep[],
    readonly adapter?: AdapterFailure,
  ) {
    super(objections.map((o) => `[${o.property}] step ${o.step}: ${o.message}`).join('\n'));
    this.name = 'CaseFailure';
  }
}

/** A clock the timeouts read: real by default, fake in tests. */
export interface Clock {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
  now(): number;
  /** Whether a pending timer keeps the process alive (Node's Timeout.ref / unref); clocks without them ignore it. */
  ref?(handle: unknown): void;
  unref?(handle: unknown): void;
}

export const realClock: Clock = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
  now: () => performance.now(),
  ref: (h) => void (h as NodeJS.Timeout).ref(),
  unref: (h) => void (h as NodeJS.Timeout).unref(),
};

interface Watched {
  readonly deadline: number;
  readonly expire: () => void;
}

/**
 * The per-command timeouts of one clock, on a single timer: arming and
 * clearing a timer for every command cost a visible share of an in-process
 * run, whose commands mostly answer within the same turn. The timer is set for
 * the earliest deadline still pending; when it fires, the expired calls fail
 * and it is set again for the next one. While nothing is pending it stays
 * set but does not keep the process alive (unref), so a finished run exits.
 */
class Watchdog {
  private readonly pending = new Set<Watched>();
  private timer: unknown = undefined;
  /** When the timer fires (clock time); meaningless while `timer` is undefined. */
  private firesAt = 0;
  private held = false;
  /** An unref is scheduled for when the current burst of calls is over. */
  private releasing = false;

  constructor(private readonly clock: Clock) {}

  watch(w: Watched): void {
    this.pending.add(w);
    if (this.timer !== undefined && this.firesAt > w.deadline) {
      this.clock.clearTimeout(this.timer);
      this.timer = undefined;
    }
    if (this.timer === undefined) this.arm(w.deadline);
    else if (!this.held) {
      this.clock.ref?.(this.timer);
      this.held = true;
    }
  }

  done(w: Watched): void {
    this.pending.delete(w);
    if (this.pending.size === 0 && this.timer !== undefined && this.held && !this.releasing) {
      // Let go of the process once the current burst of calls is over, not after every call:
      // back-to-back commands would otherwise unref and ref the timer each time.
      this.releasing = true;
      setImmediate(() => {
        this.releasing = false;
        if (this.pending.size === 0 && this.timer !== undefined && this.held) {
          this.clock.unref?.(this.timer);
          this.held = false;
        }
      });
    }
  }

  private arm(deadline: number): void {
    this.firesAt = deadline;
    this.held = true;
    this.timer = this.clock.setTimeout(() => this.fire(), Math.max(0, deadline - this.clock.now()));
  }

  private fire(): void {
    this.timer = undefined;
    const now = this.clock.now();
    let next = Infinity;
    for (const w of [...this.pending]) {
      if (w.deadline <= now) {
        this.pending.delete(w);
        w.expire();
      } else if (w.deadline < next) {
        next = w.deadline;
      }
    }
    if (next !== Infinity) this.arm(next);
  }
}

const watchdogs = new WeakMap<Clock, Watchdog>();

function watchdogOf(clock: Clock): Watchdog {
  let w = watchdogs.get(clock);
  if (w === undefined) {
    w = new Watchdog(clock);
    watchdogs.set(clock, w);
  }
  return w;
}

/** A batch's responses (Adapter.batch's answer) from its Response: a refused batch is a broken transport. */
function responsesOf(r: Response | Promise<Response>): readonly Response[] | Promise<readonly Response[]> {
  const unwrap = (x: Response): readonly Response[] => {
    if (!x.ok) throw new AdapterError('bad-message', x.error.message, x.error.field);
    return (x.result as { responses: readonly Response[] }).responses;
  };
  return r instanceof Promise ? r.then(unwrap) : unwrap(r);
}

function adapterFailureOf(err: unknown): AdapterFailure {
  if (err instanceof AdapterFailure) return err;
  if (err instanceof AdapterError) return new AdapterFailure(err.kind, err.message);
  return new AdapterFailure('internal', `the adapter threw: ${err instanceof Error ? err.message : String(err)}`);
}

/**
 * Calls an adapter, failing with AdapterFailure after `timeoutMs` or on a
 * transport error. `what` names the call in the timeout's message (a function
 * when the name costs something to build: it is read only on a timeout).
 */
export function callWithTimeout<T>(what: string | (() => string), run: () => Promise<T>, timeoutMs: number, clock: Clock): Promise<T> {
  const watchdog = watchdogOf(clock);
  return new Promise<T>((resolve, reject) => {
    let settled = false;
    const w: Watched = {
      deadline: clock.now() + timeoutMs,
      expire: () => {
        if (settled) return;
        settled = true;
        reject(new AdapterFailure('timeout', `the implementation did not answer ${typeof what === 'string' ? what : what()} within ${timeoutMs} ms`));
      },
    };
    watchdog.watch(w);
    let answer: Promise<T>;
    try {
      answer = run();
    } catch (err) {
      answer = Promise.reject(err);
    }
    answer.then(
      (v) => {
        watchdog.done(w);
        if (settled) return;
        settled = true;
        resolve(v);
      },
      (err: unknown) => {
        watchdog.done(w);
        if (settled) return;
        settled = true;
        reject(adapterFailureOf(err));
      },
    );
  });
}

const TEST_OP_NAME = new Map(TEST_OPS.map((o) => [o.value, o.name]));

/** What a step that binds nothing bound. */
const NOTHING_BOUND: ReadonlyMap<string, unknown> = new Map();

/** The command an expectations signature names: the ioctl (and test op), or the op. */
export function commandName(req: Request): string {
  if (req.op !== 'ioctl') return req.op;
  const cmd = typeof req.cmd === 'number' ? `0x${req.cmd.toString(16)}` : req.cmd;
  if (cmd === 'IOMMU_TEST_CMD' && req.arg.kind === 'struct') {
    const op = req.arg.fields['op'];
    return `${cmd}/${TEST_OP_NAME.get(toNum(op)) ?? String(op)}`;
  }
  return cmd;
}

export function statusOf(req: Request, res: Response): { status: StepStatus; errno?: number; reason?: string } {
  if (!res.ok) {
    if (res.error.code === 'unsupported') return { status: 'skipped', reason: `unsupported: ${res.error.message}` };
    return { status: 'error', reason: `${res.error.code}: ${res.error.message}${res.error.field ? ` (field ${res.error.field})` : ''}` };
  }
  const r = res.result as unknown as Record<string, unknown>;
  if (req.op === 'open' || req.op === 'open_device') {
    const errno = (r['errno'] as number | undefined) ?? 0;
    return (r['fd'] as number) < 0 || errno ? { status: 'failed', errno } : { status: 'ok' };
  }
  if (typeof r['ret'] === 'number' && typeof r['errno'] === 'number') {
    return (r['ret'] as number) < 0 || r['errno'] !== 0 ? { status: 'failed', errno: r['errno'] as number } : { status: 'ok' };
  }
  return { status: 'ok' };
}

export interface KnownCheck {
  (o: Objection): boolean;
}

export interface SessionOptions {
  readonly impl: Adapter;
  readonly caps: Capabilities;
  readonly profile: Profile;
  readonly oracles: readonly Oracle[];
  readonly timeoutMs: number;
  readonly clock?: Clock;
  /** Seed of the per-step probe sampling. */
  readonly probeSeed: number;
  readonly isKnown?: KnownCheck;
  readonly count?: (property: string, n?: number) => void;
}

/** mulberry32: a tiny seeded PRNG for probe sampling. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export class CaseSession {
  readonly bindings = new Map<string, unknown>();
  /** For each bound name, the op and path that bound it (what kind of handle it is). */
  readonly bindKinds = new Map<string, { readonly op: string; readonly path: string }>();
  /** Names whose binding step did not succeed. */
  private readonly unbound = new Set<string>();
  readonly trace: TraceStep[] = [];
  private current: TraceStep | undefined;
  private random: () => number;
  private readonly clock: Clock;
  private begun = false;
  private failed: CaseFailure | undefined;

  constructor(private readonly o: SessionOptions) {
    this.clock = o.clock ?? realClock;
    this.random = prng(o.probeSeed);
  }

  get profile(): Profile {
    return this.o.profile;
  }

  get caps(): Capabilities {
    return this.o.caps;
  }

  private context(): CaseContext {
    return {
      profile: this.o.profile,
      caps: this.o.caps,
      observe: (requests) => this.observe(requests),
      random: () => this.random(),
      count: (p, n) => this.o.count?.(p, n),
    };
  }

  async begin(): Promise<void> {
    if (this.begun) return;
    this.begun = true;
    for (const oracle of this.o.oracles) await oracle.begin(this.context());
  }

  /**
   * One call to the implementation: answered at once when an in-process
   * adapter can (no timeout can cut a synchronous answer short, so none is
   * armed), else through the per-command timeout. Transport failures are
   * AdapterFailures either way.
   */
  private send<T>(what: () => string, now: (() => T | Promise<T>) | undefined, later: () => Promise<T>): T | Promise<T> {
    if (now !== undefined) {
      let r: T | Promise<T>;
      try {
        r = now();
      } catch (err) {
        throw adapterFailureOf(err);
      }
      if (!(r instanceof Promise)) return r;
      return callWithTimeout(what, () => r as Promise<T>, this.o.timeoutMs, this.clock);
    }
    return callWithTimeout(what, later, this.o.timeoutMs, this.clock);
  }

  /** Observation requests (oracles' probes): recorded with the current step. */
  async observe(requests: readonly Request[]): Promise<readonly Response[]> {
    if (requests.length === 0) return [];
    const impl = this.o.impl;
    const batchNow = impl.callNow && (() => impl.callNow!({ op: 'batch', requests }));
    const answer = this.send(() => `${requests.length} observation request(s)`, batchNow && (() => responsesOf(batchNow())), () => impl.batch(requests));
    const responses = answer instanceof Promise ? await answer : answer;
    const into = this.current?.probes;
    requests.forEach((request, i) => into?.push({ request, response: responses[i] }));
    return responses;
  }

  private lookup = (ref: Ref, field: string): unknown => {
    if (!this.bindings.has(ref.name)) throw new ResolveError(field, `$${ref.name} is not bound`);
    const v = getPath(this.bindings.get(ref.name), ref.path);
    if (v === undefined) throw new ResolveError(field, `$${ref.name}${ref.path ? '.' + ref.path : ''} has no value`);
    return v;
  };

  /** Runs one step; throws CaseFailure when an oracle objects (or the adapter fails). */
  async exec(t: StepTemplate): Promise<TraceStep> {
    if (this.failed) throw this.failed;
    if (!this.begun) await this.begin(); // not an await per step: each is a turn of the microtask queue
    const step: TraceStep = { step: this.trace.length + 1, template: t, status: 'skipped', probes: [], objections: [], known: [] };
    this.trace.push(step);
    this.current = step;
    // A step whose input an earlier step did not produce is not run.
    let request: Request;
    try {
      request = resolveStep(t, this.lookup);
    } catch (err) {
      if (!(err instanceof ResolveError)) throw err;
      step.reason = err.message;
      this.markUnbound(t);
      return step;
    }
    step.request = request;
    const why = stepSkipReason(request, this.o.caps);
    if (why) {
      step.reason = why;
      this.markUnbound(t);
      return step;
    }
    this.random = prng((this.o.probeSeed ^ Math.imul(step.step, 0x9e3779b1)) >>> 0);
    let response: Response;
    try {
      const impl = this.o.impl;
      const answer = this.send(() => `step ${step.step} (${commandName(request)})`, impl.callNow && (() => impl.callNow!(request)), () => impl.call(request));
      response = answer instanceof Promise ? await answer : answer;
    } catch (err) {
      if (err instanceof AdapterFailure) throw this.fail(step, err);
      throw err;
    }
    step.response = response;
    const s = statusOf(request, response);
    step.status = s.status;
    if (s.reason) step.reason = s.reason;
    const protocol = this.protocolObjections(step, request, response);
    let bound = NOTHING_BOUND;
    if (s.status === 'ok' && t.bind) {
      const into = new Map<string, unknown>();
      bound = into;
      const base = bindable(t.op, response.ok ? response.result : undefined);
      for (const [name, path] of Object.entries(t.bind)) {
        const v = getPath(base, path);
        if (v === undefined) {
          step.status = 'error';
          step.reason = `bind ${name}: the result has no ${path}`;
          protocol.push(this.objection(step, request, 'protocol', `the answer has no ${path} to bind ${name} from`, response));
          break;
        }
        into.set(name, v);
        this.bindings.set(name, v);
        this.bindKinds.set(name, { op: t.op, path });
        this.unbound.delete(name);
      }
    } else {
      this.markUnbound(t);
    }
    const objections: Objection[] = [...protocol];
    if (s.status !== 'skipped' && this.o.oracles.length > 0) {
      const ev = { step: step.step, template: t, request, response, bound, bindings: this.bindings };
      for (const oracle of this.o.oracles) {
        try {
          const answer = oracle.step(ev);
          const said = answer instanceof Promise ? await answer : answer;
          if (said.length > 0) objections.push(...said);
        } catch (err) {
          if (err instanceof AdapterFailure) throw this.fail(step, err);
          throw err;
        }
      }
    }
    this.settle(step, objections);
    return step;
  }

  private markUnbound(t: StepTemplate): void {
    for (const name of Object.keys(t.bind ?? {})) {
      this.bindings.delete(name);
      this.unbound.add(name);
    }
  }

  private objection(step: TraceStep, request: Request, property: 'protocol', message: string, response?: Response): Objection {
    const observed = response === undefined ? 'no answer' : response.ok ? 'answered' : `${response.error.code}: ${response.error.message}`;
    return { oracle: 'protocol', property, step: step.step, message, observed, signature: { command: commandName(request), expected: 'a valid answer', observed } };
  }

  /** What no implementation may answer: an internal error. (`unsupported` for one request of an
   * op the report lists as supported is a finer-grained refusal — e.g. a read of a file type the
   * adapter does not model — and skips the step, as the program runner does.) */
  private protocolObjections(step: TraceStep, request: Request, response: Response): Objection[] {
    if (response.ok) return [];
    const e = response.error;
    if (e.code === 'internal') return [this.objection(step, request, 'protocol', `the implementation failed internally: ${e.message}`, response)];
    return [];
  }

  private settle(step: TraceStep, objections: readonly Objection[]): void {
    for (const o of objections) {
      if (this.o.isKnown?.(o)) step.known.push(o);
      else step.objections.push(o);
    }
    if (step.objections.length > 0) {
      this.failed = new CaseFailure(step.objections, this.trace);
      throw this.failed;
    }
  }

  private fail(step: TraceStep, err: AdapterFailure): CaseFailure {
    const o: Objection = {
      oracle: 'protocol',
      property: 'protocol',
      step: step.step,
      message: err.message,
      observed: err.kind,
      signature: { command: step.request ? commandName(step.request) : step.template.op, expected: 'an answer', observed: err.kind },
    };
    step.status = 'error';
    step.reason = err.message;
    step.objections.push(o);
    this.failed = new CaseFailure([o], this.trace, err);
    return this.failed;
  }

  /** End of case: every oracle's full sweep. */
  async finish(): Promise<void> {
    if (this.failed) throw this.failed;
    if (!this.begun) await this.begin();
    const step: TraceStep = { step: this.trace.length + 1, template: { op: 'end', fields: {} }, status: 'ok', probes: [], objections: [], known: [] };
    this.current = step;
    this.random = prng((this.o.probeSeed ^ 0x5bd1e995) >>> 0);
    const objections: Objection[] = [];
    for (const oracle of this.o.oracles) {
      try {
        objections.push(...(await oracle.end()).map((o) => ({ ...o, step: o.step || step.step })));
      } catch (err) {
        if (err instanceof AdapterFailure) {
          this.trace.push(step);
          throw this.fail(step, err);
        }
        throw err;
      }
    }
    if (objections.length > 0 || step.probes.length > 0) this.trace.push(step);
    this.settle(step, objections);
  }

  async close(): Promise<void> {
    for (const oracle of this.o.oracles) await oracle.close().catch(() => undefined);
  }
}
