/**
 * Throughput of the suite: checked commands per second against the
 * reference, in-process and over stdio, per oracle set, and the ratio to the
 * bare cost of executing the same commands with no checking (the same cases,
 * generated from the same seed, run through a session with no oracle). Each
 * oracle's share is the time spent inside it; the split says how much of the
 * rest is fast-check generating cases and how much the implementation
 * answering, so what is left is the suite's own work. Figures are medians of
 * rounds.
 */
import fc from 'fast-check';
import type { Adapter, Capabilities, Profile, Request, Response } from '../../spec/contract/types.ts';
import { openAdapter } from '../adapter/open.ts';
import { caseArb, type GeneratedCase, newModel } from './gen/commands.ts';
import { DifferentialOracle } from './oracles/differential.ts';
import { InvariantsOracle } from './oracles/invariants.ts';
import { LifecycleOracle, loadLifecycle } from './oracles/lifecycle.ts';
import type { Objection, Oracle } from './oracles/oracle.ts';
import { openReference } from './reference.ts';
import { DEFAULTS } from './runner.ts';
import { CaseFailure, CaseSession, realClock } from './session.ts';

export const BENCH_MODES = ['bare', 'invariants', 'full'] as const;
export type BenchMode = (typeof BENCH_MODES)[number];

/**
 * Cases per round. A round of 40 cases put a handful of heavy ones (huge
 * buffers, full sweeps of many segments) at a third of the figure, so rounds
 * of the same commit varied by half; 100 cases hold the mix steady.
 */
export const DEFAULT_CASES = 100;

export interface BenchFigure {
  readonly transport: 'in-process' | 'stdio';
  readonly mode: BenchMode;
  readonly commandsPerSecond: number;
  /**
   * Commands per second of this process's CPU time (user + system, all its
   * threads; over stdio the server's time is not counted): what the wall
   * figure would be on an idle core, for machines whose cores are shared.
   */
  readonly commandsPerCpuSecond: number;
  /** Commands checked per round (the same cases every round). */
  readonly commands: number;
  /** This mode's cost over the bare one (bare commands/s ÷ this). */
  readonly slowdown: number | null;
  /** Share of the time spent in each oracle, 0..1. */
  readonly shares: Readonly<Record<string, number>>;
  /**
   * Where the rest goes, 0..1 of the time: `generation` (fast-check making the
   * cases), `implementation` (inside the adapter for steps and resets; probes
   * count as their oracle's). What no share names is the suite's own work:
   * the session, the generated commands' bookkeeping, fast-check's runner.
   */
  readonly split: Readonly<Record<'generation' | 'implementation', number>>;
}

export interface BenchOptions {
  readonly profile?: Profile;
  readonly seed?: number;
  readonly cases?: number;
  readonly maxCommands?: number;
  readonly rounds?: number;
  /**
   * Untimed rounds first, per transport and mode: V8 optimizes the hot paths
   * only after some thousands of commands, and one round of 20 cases measured
   * a half-compiled suite (a third of the steady state).
   */
  readonly warmup?: number;
  readonly stdio?: string | false;
  /** The modes measured (default all three; ratios need 'bare'). */
  readonly modes?: readonly BenchMode[];
  readonly log?: (line: string) => void;
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

/**
 * Runs f, adding the time until its answer to `acc[key]`: at once for a
 * synchronous answer (wrapping it in a promise would add the cost being
 * measured), when the promise settles otherwise.
 */
function timedCall<T>(acc: Map<string, number>, key: string, f: () => T | Promise<T>): T | Promise<T> {
  const t = performance.now();
  const add = (): void => void acc.set(key, (acc.get(key) ?? 0) + performance.now() - t);
  let r: T | Promise<T>;
  try {
    r = f();
  } catch (err) {
    add();
    throw err;
  }
  if (r instanceof Promise) return r.finally(add);
  add();
  return r;
}

/** Wraps an oracle so the time inside it is counted. */
function timed(o: Oracle, acc: Map<string, number>): Oracle {
  return {
    name: o.name,
    gates: (c) => o.gates(c),
    begin: (c) => timedCall(acc, o.name, () => o.begin(c)) as Promise<void>,
    step: (e) => timedCall(acc, o.name, () => o.step(e)),
    end: () => timedCall(acc, o.name, () => o.end()) as Promise<readonly Objection[]>,
    close: () => timedCall(acc, o.name, () => o.close()) as Promise<void>,
  };
}

/** The case arbitrary, with the time fast-check spends generating from it counted as 'generation'. */
function timedArbitrary<T>(arb: fc.Arbitrary<T>, acc: Map<string, number>): fc.Arbitrary<T> {
  class Timed extends fc.Arbitrary<T> {
    generate(mrng: fc.Random, biasFactor: number | undefined): fc.Value<T> {
      return timedCall(acc, 'generation', () => arb.generate(mrng, biasFactor)) as fc.Value<T>;
    }
    canShrinkWithoutContext(value: unknown): value is T {
      return arb.canShrinkWithoutContext(value);
    }
    shrink(value: T, context: unknown): fc.Stream<fc.Value<T>> {
      return arb.shrink(value, context);
    }
  }
  return new Timed();
}

/** The adapter, with the time inside it for steps and resets counted as 'implementation' (batches are probes: their oracle's). */
function timedAdapter(adapter: Adapter, acc: Map<string, number>): Adapter {
  const counted = <T>(request: Request, answer: () => T | Promise<T>): T | Promise<T> => (request.op === 'batch' ? answer() : timedCall(acc, 'implementation', answer));
  const callNow = adapter.callNow?.bind(adapter);
  return {
    info: adapter.info,
    call: (request) => counted(request, () => adapter.call(request)) as ReturnType<Adapter['call']>,
    batch: (requests) => adapter.batch(requests),
    close: () => adapter.close(),
    ...(callNow && { callNow: (request: Request) => counted(request, () => callNow(request)) as Response | Promise<Response> }),
  } as Adapter;
}

async function oraclesFor(mode: BenchMode, profile: Profile): Promise<Oracle[]> {
  if (mode === 'bare') return [];
  const inv = new InvariantsOracle(profile);
  if (mode === 'invariants') return [inv];
  const list: Oracle[] = [new DifferentialOracle(profile, () => openReference(profile)), inv];
  const lc = await loadLifecycle();
  if ('factory' in lc) list.push(new LifecycleOracle(lc.factory, profile));
  return list;
}

/**
 * One round: every case on a fresh session (the adapter `reset`, as the
 * runner does), timed by the wall clock and by this process's CPU time. The
 * cases are generated one at a time as they run, by a fast-check run over
 * the round's seed — as `run` generates them: generating a whole round up
 * front kept every case alive through the round and had the collector copy
 * them, a cost the suite itself does not pay.
 */
async function round(cases0: fc.Arbitrary<GeneratedCase>, seed: number, cases: number, mode: BenchMode, adapter0: Adapter, caps: Capabilities, profile: Profile): Promise<{ commands: number; ms: number; cpuMs: number; oracleMs: Map<string, number>; partMs: Map<string, number> }> {
  const oracleMs = new Map<string, number>();
  const partMs = new Map<string, number>();
  const arb = timedArbitrary(cases0, partMs);
  const adapter = timedAdapter(adapter0, partMs);
  let commands = 0;
  let i = 0;
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  const property = fc.asyncProperty(arb, async (gc) => {
    const reset = await adapter.call({ op: 'reset' });
    if (!reset.ok) throw new Error(`reset: ${reset.error.message}`);
    const oracles = (await oraclesFor(mode, profile)).map((o) => timed(o, oracleMs));
    const session = new CaseSession({ impl: adapter, caps, profile, oracles, timeoutMs: 30_000, clock: realClock, probeSeed: i++ });
    try {
      await fc.asyncModelRun(() => ({ model: newModel(profile, caps, gc.enabled, gc.setting), real: session }), gc.commands);
      await session.finish();
    } catch (err) {
      if (!(err instanceof CaseFailure)) throw err;
    } finally {
      await session.close();
    }
    commands += session.trace.filter((t) => t.response !== undefined && t.template.op !== 'end').length;
  });
  const out = await fc.check(property, { seed, numRuns: cases, endOnFailure: true });
  if (out.failed) throw new Error(`bench case failed outside the oracles: ${String(out.errorInstance)}`);
  const cpu = process.cpuUsage(c0);
  return { commands, ms: performance.now() - t0, cpuMs: (cpu.user + cpu.system) / 1000, oracleMs, partMs };
}

export async function benchConformance(opts: BenchOptions = {}): Promise<BenchFigure[]> {
  const profile = opts.profile ?? '7.3';
  const rounds = opts.rounds ?? 5;
  const warmup = opts.warmup ?? 3;
  const log = opts.log ?? (() => {});
  const probe = await openAdapter('ref', { profile });
  const capsRes = await probe.call({ op: 'capabilities' });
  await probe.close();
  if (!capsRes.ok) throw new Error(`reference capabilities: ${capsRes.error.message}`);
  const caps = capsRes.result;
  const arb = caseArb(profile, caps, { maxCommands: opts.maxCommands ?? DEFAULTS.maxCommands });
  // The same cases every round and mode: the same seed (fresh command objects each time: they are single-use).
  const seed = opts.seed ?? 42;
  const cases = opts.cases ?? DEFAULT_CASES;
  const figures: BenchFigure[] = [];
  // One adapter per transport, `reset` before each case (ADAPTER.md §3.11), as `run` does.
  const transports: { name: 'in-process' | 'stdio'; spec: string }[] = [{ name: 'in-process', spec: 'ref' }];
  if (opts.stdio !== false) transports.push({ name: 'stdio', spec: opts.stdio ?? `cmd:${process.execPath} bin/iommufd-spec.mjs serve --impl ref` });
  for (const t of transports) {
    const adapter = await openAdapter(t.spec, { profile, stderr: 'inherit' });
    const modes = opts.modes ?? BENCH_MODES;
    const perMode = new Map<BenchMode, { cps: number[]; cpuCps: number[]; shares: Map<string, number[]>; split: Map<string, number[]>; commands: number }>(
      modes.map((m) => [m, { cps: [], cpuCps: [], shares: new Map(), split: new Map(), commands: 0 }]),
    );
    try {
      // The modes take turns round by round: measured one after the other, the first (bare) ran on a
      // less warmed-up JIT than the next and came out slower than the invariants doing more, and a
      // burst of load on a shared host fell on one mode alone.
      for (let r = 0; r < warmup + rounds; r++) {
        for (const mode of modes) {
          const res = await round(arb, seed, cases, mode, adapter, caps, profile);
          if (r < warmup) continue;
          const v = perMode.get(mode)!;
          v.commands = res.commands;
          v.cps.push(res.commands / (res.ms / 1000));
          v.cpuCps.push(res.commands / (res.cpuMs / 1000));
          for (const [k, x] of res.oracleMs) v.shares.set(k, [...(v.shares.get(k) ?? []), x / res.ms]);
          for (const [k, x] of res.partMs) v.split.set(k, [...(v.split.get(k) ?? []), x / res.ms]);
        }
      }
      for (const [mode, v] of perMode) log(`${t.name} ${mode}: ${Math.round(median(v.cps))} commands/s wall, ${Math.round(median(v.cpuCps))} per CPU second (median of ${rounds})`);
    } finally {
      await adapter.close();
    }
    const bare = perMode.has('bare') ? median(perMode.get('bare')!.cps) : 0;
    for (const [mode, v] of perMode) {
      const cps = median(v.cps);
      figures.push({
        transport: t.name,
        mode,
        commandsPerSecond: Math.round(cps),
        commandsPerCpuSecond: Math.round(median(v.cpuCps)),
        commands: v.commands,
        slowdown: mode === 'bare' || cps === 0 || bare === 0 ? null : Math.round((bare / cps) * 100) / 100,
        shares: Object.fromEntries([...v.shares].map(([k, xs]) => [k, Math.round(median(xs) * 1000) / 1000])),
        split: { generation: Math.round(median(v.split.get('generation') ?? [0]) * 1000) / 1000, implementation: Math.round(median(v.split.get('implementation') ?? [0]) * 1000) / 1000 },
      });
    }
  }
  return figures;
}
