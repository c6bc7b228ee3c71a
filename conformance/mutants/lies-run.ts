/**
 * `mutants --lies`: the detection rate of each kind of single lie (lies.ts)
 * by the invariants alone. Each case runs on the reference behind a lying
 * adapter, shared and `reset` between cases as a stdio adapter is, with the
 * lie told at the first, second or third answer of its kind (drawn per case
 * from the seed): a lie that always fell on the first translation of a case
 * would measure only the oracle's first probe. Per kind: the cases in which
 * the lie was told, how many of them failed (and by which properties), the
 * answers of the missed ones, and the false alarms — cases that failed with
 * no lie told, which the honest reference must never give.
 */
import fc from 'fast-check';
import type { Capabilities, Profile, SingleRequest } from '../../spec/contract/types.ts';
import { inProcessAdapter } from '../adapter/in-process.ts';
import { caseArb, newModel } from '../suite/gen/commands.ts';
import { InvariantsOracle } from '../suite/oracles/invariants.ts';
import { DEFAULTS } from '../suite/runner.ts';
import { CaseFailure, CaseSession, commandName, realClock } from '../suite/session.ts';
import { lyingImplementation, selectLies, type Lie } from './lies.ts';

export interface LieRow {
  readonly name: string;
  readonly answer: Lie['answer'];
  readonly change: string;
  readonly held: boolean;
  /** Why a kind is not held (measured only). */
  readonly why?: string;
  readonly cases: number;
  /** Cases in which the lie was told. */
  readonly told: number;
  /** Of those, the ones an invariant failed. */
  readonly caught: number;
  /** caught / told (0 when never told). */
  readonly rate: number;
  /** The properties that objected first, with how often. */
  readonly properties: Readonly<Record<string, number>>;
  /** The answers lied in cases that passed (a command or op name, with how often). */
  readonly missed: Readonly<Record<string, number>>;
  /** Cases that failed with no lie told: the oracle objecting to the honest reference. */
  readonly falseAlarms: number;
}

export interface LieRunOptions {
  readonly only?: readonly string[];
  readonly seed?: number;
  /** Cases per lie (default 100). */
  readonly runs?: number;
  readonly maxCommands?: number;
  readonly profile?: Profile;
  readonly onRow?: (row: LieRow) => void;
}

export const DEFAULT_LIE_RUNS = 100;
/** The lie goes to one of the first LIE_SPREAD answers of its kind in a case. */
const LIE_SPREAD = 3;

const what = (req: SingleRequest): string => (req.op === 'ioctl' ? commandName(req) : req.op);

export async function runLies(opts: LieRunOptions = {}): Promise<LieRow[]> {
  const profile = opts.profile ?? '7.3';
  const rows: LieRow[] = [];
  for (const lie of selectLies(opts.only)) {
    const row = await measureLie(lie, profile, opts);
    rows.push(row);
    opts.onRow?.(row);
  }
  return rows;
}

async function measureLie(lie: Lie, profile: Profile, opts: LieRunOptions): Promise<LieRow> {
  const impl = lyingImplementation(lie, profile);
  const adapter = inProcessAdapter(impl);
  const seed = opts.seed ?? DEFAULTS.seed;
  const capsRes = await adapter.call({ op: 'capabilities' });
  if (!capsRes.ok) throw new Error(`lie ${lie.name}: capabilities: ${capsRes.error.message}`);
  const caps = capsRes.result as Capabilities;
  const arb = caseArb(profile, caps, { maxCommands: opts.maxCommands ?? DEFAULTS.maxCommands });
  const pick = fc.sample(fc.integer({ min: 0, max: LIE_SPREAD - 1 }), { seed, numRuns: opts.runs ?? DEFAULT_LIE_RUNS });
  let cases = 0;
  let told = 0;
  let caught = 0;
  let falseAlarms = 0;
  const properties: Record<string, number> = {};
  const missed: Record<string, number> = {};
  try {
    const property = fc.asyncProperty(arb, async (gc) => {
      impl.skipNext(pick[cases % pick.length] as number);
      const reset = await adapter.call({ op: 'reset' });
      if (!reset.ok) throw new Error(`lie ${lie.name}: reset: ${reset.error.message}`);
      const session = new CaseSession({ impl: adapter, caps, profile, oracles: [new InvariantsOracle(profile)], timeoutMs: DEFAULTS.timeoutMs, clock: realClock, probeSeed: cases++ });
      let failure: CaseFailure | undefined;
      try {
        await fc.asyncModelRun(() => ({ model: newModel(profile, caps, gc.enabled, gc.setting), real: session }), gc.commands);
        await session.finish();
      } catch (err) {
        if (!(err instanceof CaseFailure)) throw err;
        failure = err;
      } finally {
        await session.close();
      }
      const lie0 = impl.told();
      if (!lie0) {
        if (failure) falseAlarms++;
        return;
      }
      told++;
      if (failure) {
        caught++;
        const p = failure.objections[0]?.property ?? (failure.adapter ? 'protocol' : 'unknown');
        properties[p] = (properties[p] ?? 0) + 1;
      } else {
        const k = what(lie0.request);
        missed[k] = (missed[k] ?? 0) + 1;
      }
    });
    const run = await fc.check(property, { seed, numRuns: opts.runs ?? DEFAULT_LIE_RUNS, endOnFailure: true });
    // A case that broke outside the oracles (the adapter or the session threw) would leave the counts short.
    if (run.failed) throw new Error(`lie ${lie.name}: a case failed outside the oracles: ${String(run.errorInstance)}`);
  } finally {
    await adapter.close();
  }
  return {
    name: lie.name,
    answer: lie.answer,
    change: lie.change,
    held: lie.held === true,
    ...(lie.held !== true && { why: lie.held.why }),
    cases,
    told,
    caught,
    rate: told === 0 ? 0 : caught / told,
    properties,
    missed,
    falseAlarms,
  };
}

export function formatLieTable(rows: readonly LieRow[]): string {
  const head = ['lie', 'answer', 'held', 'told', 'caught', 'rate', 'false alarms', 'first objection', 'missed in'];
  const body = rows.map((r) => [
    r.name,
    r.answer,
    r.held ? 'yes' : 'no',
    `${r.told}/${r.cases}`,
    String(r.caught),
    r.told === 0 ? '-' : `${(100 * r.rate).toFixed(0)}%`,
    String(r.falseAlarms),
    Object.entries(r.properties).sort((a, b) => b[1] - a[1]).map(([p, n]) => `${p.replace(/^invariants\./, '')} ${n}`).join(', '),
    Object.entries(r.missed).sort((a, b) => b[1] - a[1]).map(([k, n]) => `${k} ${n}`).join(', '),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => (b[i] as string).length)));
  const line = (cells: readonly string[]): string => cells.map((c, i) => c.padEnd(widths[i] as number)).join('  ').trimEnd();
  const held = rows.filter((r) => r.held);
  const heldTold = held.reduce((n, r) => n + r.told, 0);
  const heldCaught = held.reduce((n, r) => n + r.caught, 0);
  const notes = rows.filter((r) => !r.held).map((r) => `  ${r.name} is not held: ${r.why}`);
  return [line(head), ...body.map(line), '', `held lies: ${heldCaught} of ${heldTold} told were caught (${heldTold ? ((100 * heldCaught) / heldTold).toFixed(1) : '-'}%); false alarms: ${rows.reduce((n, r) => n + r.falseAlarms, 0)}`, ...notes, ''].join('\n');
}
