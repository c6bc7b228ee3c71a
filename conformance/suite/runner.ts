/**
 * The runner: random cases (fast-check `fc.commands` + `fc.asyncModelRun`)
 * against an implementation, judged by the chosen oracles, every failure
 * shrunk to a counterexample and a replay program. Callable from the CLI
 * (`iommufd-spec run`) and programmatically with an adapter factory (the
 * mutant catalogue: a mutant is another implementation behind the adapter):
 *
 *   const verdict = await runSuite({ impl: { name: 'm1', open: () => … }, seed: 1, runs: 200 });
 *   verdict.verdict        'pass' | 'fail'
 *   verdict.failure        killedBy (oracles), timeToKillMs, shrunkLength, program, text
 *
 * The run is cut into blocks of cases, each a fast-check run with its own seed
 * (seed + block). Blocks are what `--shard I/N` and `--jobs N` distribute,
 * and what `iommufd-spec merge` puts together: the verdict depends only on
 * the blocks' results, so shards merged give the verdict one run gives.
 */
import fc from 'fast-check';
import type { Adapter, Capabilities, Profile, Request } from '../../spec/contract/types.ts';
import { openAdapter, type OpenedAdapter } from '../adapter/open.ts';
import { caseArb, type GeneratedCase, newModel } from './gen/commands.ts';
import { DifferentialOracle } from './oracles/differential.ts';
import { InvariantsOracle } from './oracles/invariants.ts';
import { LifecycleOracle, loadLifecycle, type LifecycleLoad } from './oracles/lifecycle.ts';
import type { Objection, Oracle, PropertyGate } from './oracles/oracle.ts';
import { openReference } from './reference.ts';
import { AdapterFailure, CaseFailure, CaseSession, type Clock, realClock, type TraceStep } from './session.ts';
import { checkStability } from './stability.ts';
import { type FailNthOptions, sweepFailNth } from './failnth.ts';
import { counterexampleProgram, executedIoctls, executedLength, formatCounterexample } from './counterexample.ts';
import { reduceSteps } from './reduce.ts';
import type { StepTemplate } from './step.ts';
import { defaultSuiteExpectations, loadSuiteExpectations, matchExpectation, type SuiteExpectation } from './expectations.ts';
import type { Program } from '../programs/types.ts';

export const RESULT_FORMAT = 'iommufd-suite-result/1' as const;

export type OracleSet = 'full' | 'invariants';

/** An implementation: a name `openAdapter` knows (ref, cmd:…, a module path, linux-…), or a factory. */
export type ImplSpec = string | { readonly name: string; readonly open: (profile: Profile | undefined) => Promise<OpenedAdapter>; readonly shared?: boolean };

export interface SuiteOptions {
  readonly impl: ImplSpec;
  readonly profile?: Profile;
  readonly seed?: number;
  /** Cases in the whole run. */
  readonly runs?: number;
  readonly maxCommands?: number;
  readonly oracle?: OracleSet;
  /** Known divergences to gate on; absent: those of the name the implementation reports (ImplProvider.reportedExpectations). */
  readonly expectations?: readonly SuiteExpectation[];
  /** Per-command timeout. */
  readonly timeoutMs?: number;
  /** Cases per block (the unit of sharding). */
  readonly blockSize?: number;
  /** 1-based shard index and count: this run does blocks b with b mod count = index-1. */
  readonly shard?: { readonly index: number; readonly count: number };
  /** Shrinking stops after this long (the counterexample found by then is kept). */
  readonly shrinkTimeMs?: number;
  /** Probability of an ABI defect per struct argument. */
  readonly abiRate?: number;
  readonly swarm?: boolean;
  /** Every n-th passing case is run again on a fresh session (stability); 0 = never. */
  readonly stabilityEvery?: number;
  readonly clock?: Clock;
  readonly onProgress?: (p: Progress) => void;
  /** Stop after the first failing block (programmatic use: time to kill). Default false. */
  readonly stopOnFailure?: boolean;
  /**
   * Run only this case of the run: case `index` of block `block`, generated
   * exactly as the whole run generates it (fast-check's path into the block's
   * seed), with its place in the run (the stability check every n-th case).
   * A failing example replayed first, as Hypothesis replays its example
   * database: the caller runs the whole budget when it passes.
   */
  readonly onlyCase?: CasePosition;
  /** Sweep injected allocation failures over each passing case (adapters serving fail_nth). */
  readonly failNth?: boolean | FailNthOptions;
}

/** Where a case sits in a run: its block and its index in the block. */
export interface CasePosition {
  readonly block: number;
  readonly index: number;
}

export interface Progress {
  readonly block: number;
  readonly casesDone: number;
  readonly casesTotal: number;
  readonly failures: number;
  readonly phase: 'case' | 'shrink';
}

export interface JsonObjection {
  readonly oracle: string;
  readonly property: string;
  readonly clause?: string;
  readonly step: number;
  readonly message: string;
  readonly expected?: string;
  readonly observed?: string;
  readonly signature: { readonly command: string; readonly expected: string; readonly observed: string };
  readonly probe?: unknown;
}

export interface FailureReport {
  readonly block: number;
  readonly seed: number;
  readonly path: string;
  readonly replayPath?: string;
  readonly objections: readonly JsonObjection[];
  /** The oracles that objected at the failing step of the shrunk counterexample. */
  readonly killedBy: readonly string[];
  /** Steps of the shrunk counterexample that ran (environment operations and observations included). */
  readonly shrunkLength: number;
  /** Of those, ioctl commands. */
  readonly shrunkIoctls: number;
  /** From the block's start to the first failing case (before shrinking). */
  readonly timeToKillMs: number;
  readonly numShrinks: number;
  readonly text: string;
  readonly program: Program;
  readonly adapterFailure?: string;
}

export interface BlockResult {
  readonly block: number;
  readonly seed: number;
  readonly cases: number;
  readonly commands: number;
  readonly ms: number;
  readonly counts: Readonly<Record<string, number>>;
  readonly known: readonly (JsonObjection & { readonly reason: string })[];
  readonly failure?: FailureReport;
  /** A fault of the suite itself (not the implementation's). */
  readonly error?: string;
}

export type PropertyStatus = 'pass' | 'fail' | 'skip' | 'unavailable' | 'not-exercised';

export interface PropertyRow {
  readonly property: string;
  readonly oracle: string;
  readonly status: PropertyStatus;
  readonly checks: number;
  readonly reason?: string;
}

export interface SuiteResult {
  readonly format: typeof RESULT_FORMAT;
  readonly implementation: string;
  readonly implementationInfo: { readonly name: string; readonly version: string };
  readonly profile: Profile;
  readonly seed: number;
  readonly runs: number;
  readonly maxCommands: number;
  readonly oracle: OracleSet;
  readonly blockSize: number;
  readonly blockCount: number;
  readonly shard?: { readonly index: number; readonly count: number };
  readonly gates: readonly PropertyGate[];
  readonly lifecycle?: string;
  readonly blocks: readonly BlockResult[];
  readonly properties: readonly PropertyRow[];
  readonly verdict: 'pass' | 'fail' | 'error';
  readonly failure?: FailureReport;
}

export const DEFAULTS = { seed: 1, runs: 1000, maxCommands: 60, blockSize: 25, timeoutMs: 30_000, shrinkTimeMs: 60_000, stabilityEvery: 8 };

export class SuiteStartError extends Error {}

// ---------------------------------------------------------------- implementations

/** Hands out a fresh session per case: a new in-process instance, or the shared process reset (or cleaned up). */
export class ImplProvider {
  private shared: OpenedAdapter | undefined;
  /** Cases since the shared process was (re)started: without `reset` its memory only grows. */
  private uses = 0;
  static readonly RECYCLE_AFTER = 25;

  private constructor(
    readonly spec: ImplSpec,
    readonly name: string,
    readonly caps: Capabilities,
    readonly profile: Profile,
    private readonly isShared: boolean,
    first: OpenedAdapter,
  ) {
    if (isShared) this.shared = first;
    else void first.close();
  }

  private reported: readonly SuiteExpectation[] | undefined;

  /**
   * The expectations file named after the name the implementation reports
   * (expectations/<name>.json), for runs given none: the reference served
   * over stdio or as a module is the reference, with the kernel bugs it
   * reproduces (expectations/reference.json). A mutant (`mutant:<name>`,
   * conformance/mutants/harness.ts) is the reference with one fault: the
   * kernel bugs it shares with the reference are not its fault's doing.
   */
  get reportedExpectations(): readonly SuiteExpectation[] {
    if (this.reported === undefined) {
      const name = this.caps.implementation.name;
      const file = defaultSuiteExpectations(name.startsWith('mutant:') ? 'reference' : name);
      this.reported = file === undefined ? [] : loadSuiteExpectations(file).entries;
    }
    return this.reported;
  }

  static async create(spec: ImplSpec, profile: Profile | undefined, timeoutMs: number): Promise<ImplProvider> {
    const name = typeof spec === 'string' ? spec : spec.name;
    // The in-process reference is shared too: its `reset` (ADAPTER.md §3.11) costs microseconds, a new instance milliseconds.
    // Answer faults (conformance/mutants/answer-faults.ts) run as the stdio adapter they stand for is run.
    const shared = typeof spec === 'string' ? spec === 'ref' || spec.startsWith('cmd:') || spec.startsWith('linux-') || spec.startsWith('answer-fault:') : (spec.shared ?? false);
    let a: OpenedAdapter;
    try {
      a = await ImplProvider.openRaw(spec, profile, timeoutMs);
    } catch (err) {
      throw new SuiteStartError(`--impl ${name}: ${err instanceof Error ? err.message : String(err)}`);
    }
    const caps = await a.call({ op: 'capabilities' }).catch((err: unknown) => ({ ok: false as const, error: { code: 'internal' as const, message: String(err) } }));
    if (!caps.ok) {
      await a.close().catch(() => undefined);
      throw new SuiteStartError(`--impl ${name}: capabilities failed: ${caps.error.message}`);
    }
    return new ImplProvider(spec, name, caps.result, caps.result.profile, shared, a);
  }

  private static openRaw(spec: ImplSpec, profile: Profile | undefined, timeoutMs: number): Promise<OpenedAdapter> {
    if (typeof spec !== 'string') return spec.open(profile);
    return openAdapter(spec, { profile, timeoutMs, handshakeTimeoutMs: Math.max(timeoutMs, 30_000), validateInProcess: !['ref', 'stub'].includes(spec) && !spec.startsWith('cmd:') && !spec.startsWith('linux-') });
  }

  /** Cases share one session that is cleaned up, not reset. */
  get sharedWithoutReset(): boolean {
    return this.isShared && !this.canReset;
  }

  private get canReset(): boolean {
    return (this.caps.ops as Record<string, { supported: boolean } | undefined>)['reset']?.supported === true;
  }

  async acquire(timeoutMs: number): Promise<Adapter> {
    if (!this.isShared) return ImplProvider.openRaw(this.spec, this.profile, timeoutMs);
    if (!this.shared) this.shared = await ImplProvider.openRaw(this.spec, this.profile, timeoutMs);
    if (this.canReset) {
      const r = await this.shared.call({ op: 'reset' } as unknown as Request);
      if (!r.ok) {
        // What a reset cannot undo (ADAPTER.md §3.11 answers 'unsupported'): a new session instead.
        if (r.error.code !== 'unsupported') throw new AdapterFailure('internal', `reset failed: ${r.error.message}`);
        await this.shared.close().catch(() => undefined);
        this.shared = await ImplProvider.openRaw(this.spec, this.profile, timeoutMs);
      }
    }
    return this.shared;
  }

  /** After a case: close it, or clean the shared session up (or drop it when it broke). */
  async release(a: Adapter, trace: readonly TraceStep[], broken: boolean): Promise<void> {
    if (!this.isShared) {
      await a.close().catch(() => undefined);
      return;
    }
    if (broken) {
      await a.close().catch(() => undefined);
      this.shared = undefined;
      return;
    }
    if (this.canReset) return;
    if (++this.uses >= ImplProvider.RECYCLE_AFTER) {
      this.uses = 0;
      await a.close().catch(() => undefined);
      this.shared = undefined;
      return;
    }
    await cleanup(a, trace).catch(async () => {
      await a.close().catch(() => undefined);
      this.shared = undefined;
    });
  }

  async close(): Promise<void> {
    await this.shared?.close().catch(() => undefined);
    this.shared = undefined;
  }
}

/** Without `reset`: close what the case left open, destroy its VMs, remove its devices. Buffers stay
 * mapped (the contract has no op that frees a whole buffer's handle, and an adapter's memory only
 * grows): the process is recycled every RECYCLE_AFTER cases instead. */
async function cleanup(a: Adapter, trace: readonly TraceStep[]): Promise<void> {
  const fds = new Set<number>();
  const vms = new Set<number>();
  const devices = new Set<number>();
  const buffers = new Map<number, number>();
  const all = [...trace.map((t) => ({ request: t.request, response: t.response })), ...trace.flatMap((t) => t.probes)];
  for (const { request, response } of all) {
    if (!request || !response?.ok) continue;
    const r = response.result as unknown as Record<string, unknown>;
    if ((request.op === 'open' || request.op === 'open_device') && typeof r['fd'] === 'number' && r['fd'] >= 0) fds.add(r['fd']);
    if (request.op === 'close') fds.delete(request.fd);
    if (request.op === 'kvm_create') vms.add(r['vm'] as number);
    if (request.op === 'kvm_destroy') vms.delete(request.vm);
    if (request.op === 'device_create') devices.add(r['device'] as number);
    if (request.op === 'device_remove') devices.delete(request.device);
    if (request.op === 'mem_alloc') buffers.set(r['buffer'] as number, r['length'] as number);
    if (request.op === 'ioctl' && typeof r['out'] === 'object' && r['out'] !== null) {
      const walk = (v: unknown, key: string): void => {
        if (typeof v === 'number' && key.endsWith('_fd') && (r['ret'] as number) >= 0) fds.add(v);
        else if (typeof v === 'object' && v !== null && !(v instanceof Uint8Array)) for (const [k, x] of Object.entries(v)) walk(x, k);
      };
      walk(r['out'], '');
    }
  }
  const reqs: Request[] = [
    ...[...vms].map((vm): Request => ({ op: 'kvm_destroy', vm })),
    ...[...fds].sort((x, y) => y - x).map((fd): Request => ({ op: 'close', fd })),
    ...[...devices].map((device): Request => ({ op: 'device_remove', device })),
  ];
  void buffers;
  if (reqs.length) await a.batch(reqs);
}

// ---------------------------------------------------------------- one block

export function blockSeed(seed: number, block: number): number {
  return (seed + block * 7919) | 0;
}

function jsonSafe<T>(v: T): T {
  return JSON.parse(JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? x.toString() : x instanceof Uint8Array ? { hex: Buffer.from(x).toString('hex') } : x))) as T;
}

function toJsonObjection(o: Objection): JsonObjection {
  const { probe, ...rest } = o;
  return jsonSafe({ ...rest, ...(probe && { probe: { request: probe.request } }) });
}

interface BlockRuntime {
  readonly provider: ImplProvider;
  readonly opts: Required<Pick<SuiteOptions, 'maxCommands' | 'timeoutMs' | 'shrinkTimeMs' | 'stabilityEvery' | 'oracle'>> & SuiteOptions;
  readonly lifecycle: LifecycleLoad;
}

function oraclesFor(rt: BlockRuntime): { list: Oracle[]; differential?: DifferentialOracle } {
  const profile = rt.provider.profile;
  const inv = new InvariantsOracle(profile);
  if (rt.opts.oracle === 'invariants') return { list: [inv] };
  const diff = new DifferentialOracle(profile, () => openReference(profile));
  const list: Oracle[] = [diff, inv];
  if ('factory' in rt.lifecycle) list.push(new LifecycleOracle(rt.lifecycle.factory, profile));
  return { list, differential: diff };
}

interface CaseRun {
  readonly failure?: CaseFailure;
  readonly trace: readonly TraceStep[];
  readonly expectedOf?: (step: number) => import('../../spec/contract/types.ts').Response | undefined;
  readonly bindings: ReadonlyMap<string, unknown>;
  readonly bindKinds: ReadonlyMap<string, { readonly op: string; readonly path: string }>;
  readonly probeSeed: number;
  readonly commands: number;
  /** The failure came from the case's own steps (not a stability rerun, a fail-nth sweep or a broken adapter): its program can be reduced. */
  readonly reducible?: boolean;
  /** The oracles that judged it, where not the run's (the rest of a case after an injected failure: the invariants). */
  readonly oracle?: OracleSet;
}

/**
 * One case on a fresh session of the implementation, every oracle watching:
 * `drive` issues the steps (fast-check's commands, or fixed templates when a
 * counterexample is reduced), then the end-of-case sweep runs.
 */
async function driveCase(drive: (session: CaseSession) => Promise<void>, probeSeed: number, rt: BlockRuntime, counts: Map<string, number>, known: (JsonObjection & { reason: string })[]): Promise<{ failure?: CaseFailure; session: CaseSession; differential?: DifferentialOracle }> {
  const clock = rt.opts.clock ?? realClock;
  const { provider } = rt;
  const { list, differential } = oraclesFor(rt);
  const adapter = await provider.acquire(rt.opts.timeoutMs);
  const session = new CaseSession({
    impl: adapter,
    caps: provider.caps,
    profile: provider.profile,
    oracles: list,
    timeoutMs: rt.opts.timeoutMs,
    clock,
    probeSeed,
    count: (p, n = 1) => counts.set(p, (counts.get(p) ?? 0) + n),
    isKnown: (o) => {
      const e = matchExpectation(rt.opts.expectations ?? provider.reportedExpectations, o, provider.profile);
      if (!e) return false;
      known.push({ ...toJsonObjection(o), reason: e.reason });
      if (o.oracle === 'differential') differential?.sleep(`known divergence: ${e.reason}`);
      return true;
    },
  });
  let failure: CaseFailure | undefined;
  try {
    await drive(session);
    await session.finish();
  } catch (err) {
    if (err instanceof CaseFailure) failure = err;
    else if (err instanceof AdapterFailure) failure = new CaseFailure([{ oracle: 'protocol', property: 'protocol', step: session.trace.length, message: err.message, observed: err.kind, signature: { command: 'case', expected: 'an answer', observed: err.kind } }], session.trace, err);
    else throw err;
  } finally {
    await session.close();
    await provider.release(adapter, session.trace, failure?.adapter !== undefined);
  }
  return { ...(failure && { failure }), session, ...(differential && { differential }) };
}

async function runOneCase(gc: GeneratedCase & { probeSeed: number }, rt: BlockRuntime, counts: Map<string, number>, known: (JsonObjection & { reason: string })[], stability: boolean): Promise<CaseRun> {
  const clock = rt.opts.clock ?? realClock;
  const { provider } = rt;
  const model = newModel(provider.profile, provider.caps, gc.enabled, gc.setting);
  const driven = await driveCase((session) => fc.asyncModelRun(() => ({ model, real: session }), gc.commands), gc.probeSeed, rt, counts, known);
  const { session, differential } = driven;
  let failure = driven.failure;
  if (!failure && stability) {
    counts.set('invariants.stability', (counts.get('invariants.stability') ?? 0) + 1);
    const fresh = await provider.acquire(rt.opts.timeoutMs);
    let broken = false;
    try {
      const o = await checkStability(session.trace, fresh, rt.opts.timeoutMs, clock);
      if (o) failure = new CaseFailure([o], session.trace);
    } catch (err) {
      if (!(err instanceof AdapterFailure)) throw err;
      broken = true;
      failure = new CaseFailure([{ oracle: 'protocol', property: 'protocol', step: 0, message: err.message, observed: err.kind, signature: { command: 'stability rerun', expected: 'an answer', observed: err.kind } }], session.trace, err);
    } finally {
      await provider.release(fresh, [], broken);
    }
  }
  /** The failure came from the rest of the case after an injected failure: a program the invariants judge, reducible as one. */
  let continued: { readonly bindings?: ReadonlyMap<string, unknown>; readonly bindKinds?: ReadonlyMap<string, { readonly op: string; readonly path: string }> } | undefined;
  const afterFailure: BlockRuntime = { ...rt, opts: { ...rt.opts, oracle: 'invariants' } };
  if (!failure && rt.opts.failNth && provider.caps.ops.fail_nth?.supported) {
    const ops = new Set(Object.entries(provider.caps.ops).filter(([, v]) => v?.supported).map(([k]) => k));
    const found = await sweepFailNth(
      session.trace,
      {
        open: () => provider.acquire(rt.opts.timeoutMs),
        release: (a, broken) => provider.release(a, [], broken),
        ops,
        timeoutMs: rt.opts.timeoutMs,
        clock,
        count: (n) => counts.set('fail-nth', (counts.get('fail-nth') ?? 0) + n),
        isKnown: (o) => {
          const e = matchExpectation(rt.opts.expectations ?? provider.reportedExpectations, o, provider.profile);
          if (e) known.push({ ...toJsonObjection(o), reason: e.reason });
          return e !== undefined;
        },
        continueCase: async (templates) => {
          // The rest of the case after the injected failure, under the invariants alone: the differential
          // reference would need the same failure point, which another implementation need not share.
          const d = await driveCase(async (s) => {
            for (const t of templates) await s.exec(t);
          }, gc.probeSeed, afterFailure, counts, known);
          const objection = d.failure?.objections[0];
          return d.failure && objection ? { objection, templates: executedSteps(d.failure.trace), failure: d.failure, bindings: d.session.bindings, bindKinds: d.session.bindKinds } : undefined;
        },
        unitFormat: (unit) => provider.caps.iommus.find((u) => u.name === unit)?.format,
      },
      { window: gc.probeSeed, ...(typeof rt.opts.failNth === 'object' ? rt.opts.failNth : {}) },
    );
    if (found?.failure) {
      failure = found.failure;
      continued = found;
    } else if (found) {
      const trace: TraceStep[] = found.templates.map((template, i) => ({ step: i + 1, template, status: 'ok', probes: [], objections: [], known: [], response: { ok: true, result: {} } as never }));
      const last = trace[trace.length - 1] as TraceStep;
      if (found.objection.probe) last.probes.push(found.objection.probe);
      const objection = { ...found.objection, step: last.step };
      last.objections.push(objection);
      failure = new CaseFailure([objection], trace);
    }
  }
  const commands = session.trace.filter((t) => t.response !== undefined && t.template.op !== 'end').length;
  if (continued && failure) return { failure, reducible: failure.adapter === undefined, oracle: 'invariants', trace: failure.trace, bindings: continued.bindings ?? new Map(), bindKinds: continued.bindKinds ?? new Map(), probeSeed: gc.probeSeed, commands };
  return { ...(failure && { failure }), reducible: driven.failure !== undefined && driven.failure.adapter === undefined, trace: session.trace, expectedOf: (s) => differential?.expectedOf(s), bindings: session.bindings, bindKinds: session.bindKinds, probeSeed: gc.probeSeed, commands };
}

/** The steps of a trace that ran (the end-of-case sweep left out: a replay runs it itself). */
function executedSteps(trace: readonly TraceStep[]): StepTemplate[] {
  return trace.filter((t) => t.template.op !== 'end' && t.response !== undefined).map((t) => t.template);
}

/**
 * Reduces a failing case's program (reduce.ts): a trial counts when the same
 * oracle objects to the same property, at any step, with the case's probe
 * seed. Trials are not counted in the run's statistics.
 */
async function reduceRun(run: CaseRun, runRt: BlockRuntime, stop: () => boolean): Promise<CaseRun> {
  const rt: BlockRuntime = run.oracle ? { ...runRt, opts: { ...runRt.opts, oracle: run.oracle } } : runRt;
  const target = run.failure?.objections[0];
  if (!target) return run;
  // The same oracle objecting to the same property, wherever it does: a fault often shows through a
  // probe's random sample of pages, or through whichever probe runs first (`ATTACH→pin_count`,
  // `ATTACH→process_info`), and both follow the steps before it, so dropping one moves where it shows.
  const same = (f: CaseFailure | undefined): boolean => f !== undefined && f.adapter === undefined && f.objections.some((o) => o.oracle === target.oracle && o.property === target.property);
  const reduced = await reduceSteps(
    executedSteps(run.trace),
    run,
    async (steps) => {
      const d = await driveCase(async (session) => {
        for (const t of steps) await session.exec(t);
      }, run.probeSeed, rt, new Map(), []);
      if (!same(d.failure)) return { result: undefined, executed: [] };
      const trace = d.session.trace;
      const executed = executedSteps(trace);
      const result: CaseRun = { failure: d.failure as CaseFailure, reducible: true, ...(run.oracle && { oracle: run.oracle }), trace, expectedOf: (s) => d.differential?.expectedOf(s), bindings: d.session.bindings, bindKinds: d.session.bindKinds, probeSeed: run.probeSeed, commands: executed.length };
      return { result, executed };
    },
    { stop, bindingsOf: (r) => r.bindings },
  );
  return reduced.result;
}

export async function runBlock(block: number, rt: BlockRuntime, onProgress?: (p: Progress) => void, onlyIndex?: number): Promise<BlockResult> {
  const opts = rt.opts;
  const seed = blockSeed(opts.seed ?? DEFAULTS.seed, block);
  const runs = opts.runs ?? DEFAULTS.runs;
  const size = opts.blockSize ?? DEFAULTS.blockSize;
  const cases = Math.max(0, Math.min(size, runs - block * size));
  const counts = new Map<string, number>();
  const known: (JsonObjection & { reason: string })[] = [];
  const clock = opts.clock ?? realClock;
  const t0 = clock.now();
  let done = 0;
  let commands = 0;
  let firstFailure: number | undefined;
  let last: CaseRun | undefined;
  let caseIndex = onlyIndex ?? 0;
  let adapterBroke = false;
  const arb = fc.record({
    gc: caseArb(rt.provider.profile, rt.provider.caps, { maxCommands: opts.maxCommands, sharedSession: rt.provider.sharedWithoutReset, ...(opts.abiRate !== undefined && { abiRate: opts.abiRate }), ...(opts.swarm !== undefined && { swarm: opts.swarm }) }),
    probeSeed: fc.integer(),
  });
  const property = fc.asyncProperty(arb, async ({ gc, probeSeed }) => {
    if (firstFailure !== undefined && clock.now() - firstFailure > opts.shrinkTimeMs) return true; // shrink budget spent: keep the last counterexample
    if (adapterBroke) return true; // a crashed or hung implementation: report the program so far, do not shrink by restarting it
    // Every n-th case of the whole run (not of the block), so small blocks still get some.
    const stability = firstFailure === undefined && opts.stabilityEvery > 0 && (block * size + caseIndex) % opts.stabilityEvery === opts.stabilityEvery - 1;
    // One case asked for (a known kill replayed): fast-check goes on past it when it passes, and a
    // later case is no replay of it.
    if (onlyIndex !== undefined && firstFailure === undefined && caseIndex > onlyIndex) return true;
    caseIndex++;
    const run = await runOneCase({ ...gc, probeSeed }, rt, counts, known, stability);
    if (firstFailure === undefined) {
      done++;
      commands += run.commands;
      onProgress?.({ block, casesDone: done, casesTotal: cases, failures: 0, phase: 'case' });
    } else onProgress?.({ block, casesDone: done, casesTotal: cases, failures: 1, phase: 'shrink' });
    if (run.failure) {
      firstFailure ??= clock.now();
      last = run;
      if (run.failure.adapter) adapterBroke = true;
      throw run.failure;
    }
    return true;
  });
  if (cases === 0) return { block, seed, cases: 0, commands: 0, ms: 0, counts: {}, known: [] };
  const details = await fc.check(property, { seed, numRuns: cases, endOnFailure: false, ...(onlyIndex !== undefined && { path: String(onlyIndex) }) });
  const ms = clock.now() - t0;
  const base = { block, seed, cases: done, commands, ms, counts: Object.fromEntries(counts), known: jsonSafe(known) };
  if (!details.failed) return base;
  const err = details.errorInstance;
  if (!(err instanceof CaseFailure) || !last) {
    const msg = err instanceof Error ? `${err.name}: ${err.message}\n${err.stack ?? ''}` : String(err);
    return { ...base, error: `the suite itself failed: ${msg}` };
  }
  const cx = details.counterexample?.[0] as { gc: GeneratedCase } | undefined;
  const replayPath = cx ? /replayPath=(["'])?([^"'*]+)\1?/.exec(String(cx.gc.commands))?.[2] : undefined;
  // fast-check's counterexample, reduced further as a program (reduce.ts).
  const own = last.failure === err;
  if (own && last.reducible) last = await reduceRun(last, rt, () => clock.now() - (firstFailure ?? t0) > 2 * opts.shrinkTimeMs);
  const finalFailure = own ? (last.failure as CaseFailure) : err;
  const trace = finalFailure.trace;
  const objections = finalFailure.objections;
  const failingStep = objections[0]?.step ?? 0;
  const killedBy = [...new Set(objections.filter((o) => o.step === failingStep).map((o) => o.oracle))];
  const expectedOf = own ? last.expectedOf : undefined;
  const program = counterexampleProgram(
    trace,
    objections,
    {
      implementation: rt.provider.name,
      seed,
      path: details.counterexamplePath ?? "",
      ...(replayPath && { replayPath }),
      block,
      oracle: objections[0]?.oracle ?? 'protocol',
      oracles: killedBy,
      property: objections[0]?.property ?? 'protocol',
      step: failingStep,
      ...(objections[0]?.expected !== undefined && { expected: objections[0].expected }),
      ...(objections[0]?.observed !== undefined && { observed: objections[0].observed }),
      message: objections[0]?.message ?? '',
    },
    rt.provider.profile,
    own ? last.bindings : new Map(),
    expectedOf,
    own ? last.bindKinds : new Map(),
  );
  if (own) (program.replay as Record<string, unknown>)['probeSeed'] = last.probeSeed;
  const failure: FailureReport = {
    block,
    seed,
    path: details.counterexamplePath ?? "",
    ...(replayPath && { replayPath }),
    objections: objections.map(toJsonObjection),
    killedBy,
    shrunkLength: executedLength(trace),
    shrunkIoctls: executedIoctls(trace),
    timeToKillMs: (firstFailure ?? t0) - t0,
    numShrinks: details.numShrinks,
    text: formatCounterexample(trace, objections, expectedOf),
    program: jsonSafe(program),
    ...(err.adapter && { adapterFailure: `${err.adapter.kind}: ${err.adapter.message}` }),
  };
  return { ...base, failure };
}

// ---------------------------------------------------------------- the whole run

export function blockCount(runs: number, blockSize: number): number {
  return Math.ceil(runs / blockSize);
}

export function blocksOfShard(count: number, shard: { index: number; count: number } | undefined): number[] {
  const all = Array.from({ length: count }, (_, i) => i);
  return shard ? all.filter((b) => b % shard.count === shard.index - 1) : all;
}

export interface RunContext {
  readonly provider: ImplProvider;
  readonly lifecycle: LifecycleLoad;
}

export async function prepare(opts: SuiteOptions): Promise<RunContext> {
  const provider = await ImplProvider.create(opts.impl, opts.profile, opts.timeoutMs ?? DEFAULTS.timeoutMs);
  const lifecycle: LifecycleLoad = (opts.oracle ?? 'full') === 'full' ? await loadLifecycle() : { unavailable: 'not asked for (--oracle invariants)' };
  return { provider, lifecycle };
}

export function runtimeOf(ctx: RunContext, opts: SuiteOptions): BlockRuntime {
  return {
    provider: ctx.provider,
    lifecycle: ctx.lifecycle,
    opts: {
      ...opts,
      oracle: opts.oracle ?? 'full',
      maxCommands: opts.maxCommands ?? DEFAULTS.maxCommands,
      timeoutMs: opts.timeoutMs ?? DEFAULTS.timeoutMs,
      shrinkTimeMs: opts.shrinkTimeMs ?? DEFAULTS.shrinkTimeMs,
      stabilityEvery: opts.stabilityEvery ?? DEFAULTS.stabilityEvery,
    },
  };
}

/** Every property this run reports, with its oracle and gate. */
export function gatesFor(caps: Capabilities, oracle: OracleSet, failNth = false): PropertyGate[] {
  const gates: PropertyGate[] = [{ property: 'protocol' }];
  if (oracle === 'full') gates.push({ property: 'differential' }, { property: 'lifecycle' });
  gates.push(...InvariantsOracle.gatesFor(caps), { property: 'invariants.stability' });
  if (failNth) gates.push(caps.ops.fail_nth?.supported ? { property: 'fail-nth' } : { property: 'fail-nth', skip: 'the adapter cannot inject allocation failures (no fail_nth op)' });
  return gates;
}

function oracleOf(property: string): string {
  return property === 'fail-nth' ? 'invariants' : (property.split('.')[0] as string);
}

/** The verdict from blocks alone (so merged shards give what one run gives). */
export function assemble(meta: Omit<SuiteResult, 'blocks' | 'properties' | 'verdict' | 'failure'>, blocks: readonly BlockResult[]): SuiteResult {
  const sorted = [...blocks].sort((a, b) => a.block - b.block);
  const counts = new Map<string, number>();
  for (const b of sorted) for (const [k, n] of Object.entries(b.counts)) counts.set(k, (counts.get(k) ?? 0) + n);
  const failed = new Set(sorted.flatMap((b) => b.failure?.objections.map((o) => o.property) ?? []));
  const properties: PropertyRow[] = meta.gates.map((g) => {
    const row = { property: g.property, oracle: oracleOf(g.property), checks: counts.get(g.property) ?? 0 };
    if (g.skip) return { ...row, status: 'skip' as const, reason: g.skip };
    if (g.property === 'lifecycle' && meta.lifecycle) return { ...row, status: 'unavailable' as const, reason: meta.lifecycle };
    if (failed.has(g.property)) return { ...row, status: 'fail' as const };
    if (g.property === 'protocol') return { ...row, status: 'pass' as const, checks: sorted.reduce((n, b) => n + b.commands, 0) };
    if (row.checks === 0) return { ...row, status: 'not-exercised' as const, reason: 'no case reached a check of it' };
    return { ...row, status: 'pass' as const };
  });
  const failure = sorted.find((b) => b.failure)?.failure;
  const error = sorted.some((b) => b.error);
  const bad = properties.some((p) => p.status === 'fail' || p.status === 'not-exercised');
  return { ...meta, blocks: sorted, properties, verdict: error ? 'error' : failure || bad ? 'fail' : 'pass', ...(failure && { failure }) };
}

export function metaOf(ctx: RunContext, opts: SuiteOptions): Omit<SuiteResult, 'blocks' | 'properties' | 'verdict' | 'failure'> {
  const runs = opts.runs ?? DEFAULTS.runs;
  const blockSize = opts.blockSize ?? DEFAULTS.blockSize;
  const oracle = opts.oracle ?? 'full';
  return {
    format: RESULT_FORMAT,
    implementation: ctx.provider.name,
    implementationInfo: ctx.provider.caps.implementation,
    profile: ctx.provider.profile,
    seed: opts.seed ?? DEFAULTS.seed,
    runs,
    maxCommands: opts.maxCommands ?? DEFAULTS.maxCommands,
    oracle,
    blockSize,
    blockCount: blockCount(runs, blockSize),
    ...(opts.shard && { shard: opts.shard }),
    gates: gatesFor(ctx.provider.caps, oracle, Boolean(opts.failNth)),
    ...('unavailable' in ctx.lifecycle && oracle === 'full' && { lifecycle: ctx.lifecycle.unavailable }),
  };
}

/** Runs the suite in this thread (see runSuiteParallel in workers.ts for --jobs). */
export async function runSuite(opts: SuiteOptions): Promise<SuiteResult> {
  const ctx = await prepare(opts);
  try {
    const meta = metaOf(ctx, opts);
    const rt = runtimeOf(ctx, opts);
    const blocks: BlockResult[] = [];
    if (opts.onlyCase) {
      const { block, index } = opts.onlyCase;
      if (block >= meta.blockCount || index >= Math.min(meta.blockSize, meta.runs - block * meta.blockSize)) throw new Error(`case ${index} of block ${block} is not in a run of ${meta.runs} cases in blocks of ${meta.blockSize}`);
      return assemble(meta, [await runBlock(block, rt, opts.onProgress, index)]);
    }
    for (const b of blocksOfShard(meta.blockCount, opts.shard)) {
      const r = await runBlock(b, rt, opts.onProgress);
      blocks.push(r);
      if (opts.stopOnFailure && (r.failure || r.error)) break;
    }
    return assemble(meta, blocks);
  } finally {
    await ctx.provider.close();
  }
}

/** Merges shards' results (same implementation, seed, runs, …) into one. */
export function mergeResults(results: readonly SuiteResult[]): SuiteResult {
  const first = results[0];
  if (!first) throw new Error('nothing to merge');
  for (const r of results) {
    for (const k of ['implementation', 'profile', 'seed', 'runs', 'maxCommands', 'oracle', 'blockSize'] as const) {
      if (JSON.stringify(r[k]) !== JSON.stringify(first[k])) throw new Error(`cannot merge results that differ in ${k}: ${JSON.stringify(first[k])} and ${JSON.stringify(r[k])}`);
    }
  }
  const blocks = new Map<number, BlockResult>();
  for (const r of results) for (const b of r.blocks) if (!blocks.has(b.block)) blocks.set(b.block, b);
  const { shard: _shard, blocks: _b, properties: _p, verdict: _v, failure: _f, ...meta } = first;
  void _shard;
  void _b;
  void _p;
  void _v;
  void _f;
  const merged = assemble(meta, [...blocks.values()]);
  const missing = Array.from({ length: first.blockCount }, (_, i) => i).filter((b) => !blocks.has(b));
  if (missing.length > 0) throw new Error(`blocks ${missing.join(', ')} are in none of the results (a shard is missing)`);
  return merged;
}

/** What two results must agree on to be the same verdict (timings and per-block statistics aside). */
export function verdictOf(r: SuiteResult): unknown {
  return {
    implementation: r.implementation,
    profile: r.profile,
    verdict: r.verdict,
    properties: r.properties.map((p) => [p.property, p.status, p.reason ?? '']),
    failure: r.failure ? { block: r.failure.block, objections: r.failure.objections.map((o) => [o.property, o.step, o.message]), program: r.failure.program } : null,
    blocks: r.blocks.map((b) => [b.block, b.cases, Boolean(b.failure)]),
  };
}
