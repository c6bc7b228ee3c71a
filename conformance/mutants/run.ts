/**
 * `iommufd-spec mutants`: the suite (runner.ts, run's default budget) against
 * every mutant, and separately the fixed corpus (conformance/programs/corpus,
 * as `exec` runs it) alone, so the table shows what random sequences add over
 * the kernel's own scenarios.
 *
 * A mutant is killed by the suite when the run fails (any oracle objects);
 * by the corpus when some program reports a violation or a step error that
 * the same program does not report on the reference (the reference's own
 * findings, e.g. an unlisted skip, are not kills).
 */
import type { Profile } from '../../spec/contract/types.ts';
import { DEFAULTS, runSuite, type ImplSpec, type OracleSet, type SuiteResult } from '../suite/runner.ts';
import { knownKillOf, type KillRun, type KnownKill, type KnownKills } from './known-kills.ts';
import { loadPrograms, CORPUS_DIR } from '../programs/load.ts';
import { runProgram } from '../programs/run.ts';
import { judgeRun } from '../programs/verdict.ts';
import { defaultExpectationsFile, loadExpectationsFile, type ExpectationEntry } from '../programs/expectations.ts';
import type { LoadedProgram } from '../programs/types.ts';
import type { OpenedAdapter } from '../adapter/open.ts';
import { openReference } from '../suite/reference.ts';
import { inProcessAdapter } from '../adapter/in-process.ts';
import { MUTANTS, SECURITY_CLASSES, type Mutant } from './catalogue.ts';
import { ANSWER_FAULT_PREFIX, MUTANT_PREFIX, openAnswerFault, openMutant } from './register.ts';
import { ANSWER_FAULTS, SECURITY_BREAKS, type AnswerFault } from './answer-faults.ts';
import { UNSEEN_FAULTS, unseenName, unseenPath, type UnseenFault } from './unseen.ts';

export interface MutantRunOptions {
  readonly only?: readonly string[];
  readonly oracle?: OracleSet;
  readonly seed?: number;
  readonly runs?: number;
  readonly maxCommands?: number;
  readonly profile?: Profile;
  /** Run the fixed corpus too (default true). */
  readonly corpus?: boolean;
  readonly shrinkTimeMs?: number;
  readonly onRow?: (row: MutantRow) => void;
  /** Directory to write each kill's replay file to (absent: not written). */
  readonly replayDir?: string;
  /** Sweep injected allocation failures over each passing case (run --fail-nth). */
  readonly failNth?: boolean;
  /** Each fault's first failing case from an earlier run, replayed before the whole budget (known-kills.ts). */
  readonly knownKills?: KnownKills;
}

export interface MutantRow {
  readonly name: string;
  /** The catalogue's class, or the invariant an answer fault breaks. */
  readonly class: Mutant['class'] | AnswerFault['breaks'];
  readonly security: boolean;
  readonly clauses: readonly string[];
  readonly verdict: 'killed' | 'survived' | 'error';
  /** Oracles that objected at the failing step of the shrunk counterexample. */
  readonly killedBy: readonly string[];
  /** Properties that objected (e.g. invariants.dma-confinement). */
  readonly properties: readonly string[];
  readonly secondsToKill?: number;
  /** Steps of the shrunk counterexample (environment operations and observations included). */
  readonly shrunkLength?: number;
  /** Of those, ioctl commands. */
  readonly shrunkIoctls?: number;
  readonly seconds: number;
  readonly cases: number;
  readonly commands: number;
  /** The corpus alone: killed (with the first program that caught it), survived, or not run. */
  readonly corpus?: { readonly killed: boolean; readonly program?: string; readonly finding?: string; readonly seconds: number };
  readonly replay?: unknown;
  readonly error?: string;
  /** The case that killed it (its block and index in the run, and the profile): what a known-kills file records. */
  readonly killingCase?: KnownKill;
  /** Killed by replaying the known kill's case alone: `cases` and the times are that one case's. */
  readonly knownKill?: true;
}

/**
 * For the checks that ask only whether a fault is killed, and by which
 * property: no shrinking (the first failing case is the verdict). Shrinking
 * is what takes a kill from a fraction of a second to several, and its
 * result, bounded by a time budget, is not what these checks judge; without
 * it the property they read is the one of the first failing step, whatever
 * the machine's speed.
 */
export const VERDICT_ONLY = { shrinkTimeMs: 0 } as const;

export function selectMutants(only: readonly string[] | undefined): Mutant[] {
  if (!only || only.length === 0) return [...MUTANTS];
  const unknown = only.filter((n) => !MUTANTS.some((m) => m.name === n));
  if (unknown.length) throw new Error(`unknown mutant(s): ${unknown.join(', ')} (known: ${MUTANTS.map((m) => m.name).join(', ')})`);
  return MUTANTS.filter((m) => only.includes(m.name));
}

/** The run a fault gets: run's default budget, or the options'. */
function killRun(opts: MutantRunOptions, oracle: OracleSet): KillRun {
  return { seed: opts.seed ?? DEFAULTS.seed, runs: opts.runs ?? DEFAULTS.runs, maxCommands: opts.maxCommands ?? DEFAULTS.maxCommands, blockSize: DEFAULTS.blockSize, oracle: opts.oracle ?? oracle };
}

/** A suite result, and whether it comes from replaying the fault's known kill alone. */
interface BudgetedResult {
  readonly result: SuiteResult;
  readonly knownKill: boolean;
}

/**
 * The suite at run's default budget (or the options'), stopping at the first
 * failing block; the fault's known kill first, when the options hold one for
 * this run and it still fails at the same profile.
 */
async function runBudgeted(name: string, impl: ImplSpec, opts: MutantRunOptions, oracle: OracleSet): Promise<BudgetedResult> {
  const run = killRun(opts, oracle);
  const whole = {
    impl,
    ...(opts.profile && { profile: opts.profile }),
    seed: run.seed,
    runs: run.runs,
    maxCommands: run.maxCommands,
    oracle: run.oracle,
    ...(opts.shrinkTimeMs !== undefined && { shrinkTimeMs: opts.shrinkTimeMs }),
    ...(opts.failNth && { failNth: true }),
    stopOnFailure: true,
  };
  const known = knownKillOf(opts.knownKills, name, run);
  if (known) {
    const replayed = await runSuite({ ...whole, onlyCase: known });
    if (replayed.failure && replayed.profile === known.profile) return { result: replayed, knownKill: true };
  }
  return { result: await runSuite(whole), knownKill: false };
}

/** The suite against one mutant (--oracle full unless the options say otherwise). */
export function runSuiteOnMutant(m: Mutant, opts: MutantRunOptions = {}): Promise<BudgetedResult> {
  return runBudgeted(m.name, { name: `${MUTANT_PREFIX}${m.name}`, open: async (profile) => openMutant(m, profile) }, opts, 'full');
}

/** What a row says of its fault before the suite runs: name, class, whether it is a security fault, clauses. */
export type RowBase = Pick<MutantRow, 'name' | 'class' | 'security' | 'clauses'>;

export const answerFaultBase = (f: AnswerFault): RowBase => ({ name: f.name, class: f.breaks, security: SECURITY_BREAKS.has(f.breaks), clauses: [] });
export const unseenBase = (f: UnseenFault): RowBase => ({ name: unseenName(f), class: f.class, security: SECURITY_CLASSES.has(f.class), clauses: [] });

/** One row of the table: the suite's verdict, or the error that stopped it. */
async function suiteRow(base: RowBase, run: () => Promise<BudgetedResult>): Promise<MutantRow> {
  const t0 = performance.now();
  try {
    const { result, knownKill } = await run();
    const row = rowOf(base, result, (performance.now() - t0) / 1000);
    return knownKill ? { ...row, knownKill } : row;
  } catch (err) {
    return { ...base, verdict: 'error', killedBy: [], properties: [], seconds: (performance.now() - t0) / 1000, cases: 0, commands: 0, error: err instanceof Error ? err.message : String(err) };
  }
}

/** Corpus findings that fail a run: violations and step errors (not skips: the mutant serves what the reference serves). */
function killingFindings(run: Awaited<ReturnType<typeof runProgram>>, entries: readonly ExpectationEntry[]): string[] {
  return judgeRun(run, entries)
    .failures.filter((f) => f.kind === 'violation' || f.kind === 'error')
    .map((f) => `${f.step !== undefined ? `step ${f.step}: ` : ''}${f.message}`);
}

let corpusCache: LoadedProgram[] | undefined;
let refEntries: ExpectationEntry[] | undefined;

/** The fixed corpus alone against a mutant: the first program with a finding the reference does not have. */
export async function corpusKills(m: Mutant, profile: Profile | undefined): Promise<NonNullable<MutantRow['corpus']>> {
  const t0 = performance.now();
  corpusCache ??= loadPrograms([CORPUS_DIR]);
  if (!refEntries) {
    const file = defaultExpectationsFile('ref');
    refEntries = file ? [...loadExpectationsFile(file).entries] : [];
  }
  for (const p of corpusCache) {
    const adapter = openMutant(m, profile);
    const caps = await adapter.call({ op: 'capabilities' });
    if (!caps.ok) throw new Error(`mutant ${m.name}: capabilities failed: ${caps.error.message}`);
    let findings: string[];
    try {
      findings = killingFindings(await runProgram(p, adapter, caps.result), refEntries);
    } finally {
      await adapter.close();
    }
    if (findings.length === 0) continue;
    // Not a kill if the reference reports the same program as failing.
    const ref = await openReference(caps.result.profile);
    const refAdapter: OpenedAdapter = inProcessAdapter(ref.implementation);
    let refFindings: string[];
    try {
      refFindings = killingFindings(await runProgram(p, refAdapter, caps.result), refEntries);
    } finally {
      await refAdapter.close();
    }
    if (refFindings.length === 0) return { killed: true, program: p.program.name, finding: findings[0], seconds: (performance.now() - t0) / 1000 };
  }
  return { killed: false, seconds: (performance.now() - t0) / 1000 };
}

function rowOf(m: RowBase, r: SuiteResult, seconds: number): MutantRow {
  const cases = r.blocks.reduce((n, b) => n + b.cases, 0);
  const commands = r.blocks.reduce((n, b) => n + b.commands, 0);
  const base = { name: m.name, class: m.class, security: m.security, clauses: m.clauses, seconds, cases, commands };
  const error = r.blocks.find((b) => b.error)?.error;
  if (error) return { ...base, verdict: 'error', killedBy: [], properties: [], error };
  if (!r.failure) return { ...base, verdict: r.verdict === 'fail' ? 'killed' : 'survived', killedBy: [], properties: r.properties.filter((p) => p.status === 'fail').map((p) => p.property) };
  const f = r.failure;
  // Time to kill: the blocks that passed before the failing one, plus the failing block's time to its first failure.
  const before = r.blocks.filter((b) => b.block < f.block).reduce((n, b) => n + b.ms, 0);
  return {
    ...base,
    verdict: 'killed',
    killedBy: f.killedBy,
    properties: [...new Set(f.objections.filter((o) => o.step === f.objections[0]?.step).map((o) => o.property))],
    secondsToKill: (before + f.timeToKillMs) / 1000,
    shrunkLength: f.shrunkLength,
    shrunkIoctls: f.shrunkIoctls,
    replay: f.program,
    ...(/^\d+/.test(f.path) && { killingCase: { profile: r.profile, block: f.block, index: Number(f.path.split(':')[0]) } }),
  };
}

/** Runs the suite (and the corpus) against each selected mutant. */
export async function runMutants(opts: MutantRunOptions = {}): Promise<MutantRow[]> {
  const rows: MutantRow[] = [];
  for (const m of selectMutants(opts.only)) {
    let row = await suiteRow(m, () => runSuiteOnMutant(m, opts));
    if (opts.corpus ?? true) row = { ...row, corpus: await corpusKills(m, opts.profile) };
    rows.push(row);
    opts.onRow?.(row);
  }
  return rows;
}

export function selectAnswerFaults(only: readonly string[] | undefined): AnswerFault[] {
  if (!only || only.length === 0) return [...ANSWER_FAULTS];
  const unknown = only.filter((n) => !ANSWER_FAULTS.some((f) => f.name === n));
  if (unknown.length) throw new Error(`unknown answer fault(s): ${unknown.join(', ')} (known: ${ANSWER_FAULTS.map((f) => f.name).join(', ')})`);
  return ANSWER_FAULTS.filter((f) => only.includes(f.name));
}

/**
 * The suite against each fault behind the protocol (answer-faults.ts), the
 * adapter shared and reset between cases as a stdio adapter is. No corpus
 * column: the corpus' expected answers are the reference's, which these
 * faults change on purpose.
 */
export async function runAnswerFaults(opts: MutantRunOptions = {}): Promise<MutantRow[]> {
  const rows: MutantRow[] = [];
  for (const fault of selectAnswerFaults(opts.only)) {
    const base = answerFaultBase(fault);
    const impl = { name: `${ANSWER_FAULT_PREFIX}${fault.name}`, open: async (profile: Profile | undefined) => openAnswerFault(fault, profile), shared: true };
    const row = await suiteRow(base, () => runBudgeted(fault.name, impl, opts, 'invariants'));
    rows.push(row);
    opts.onRow?.(row);
  }
  return rows;
}

export function selectUnseen(only: readonly string[] | undefined): UnseenFault[] {
  if (!only || only.length === 0) return [...UNSEEN_FAULTS];
  const unknown = only.filter((n) => !UNSEEN_FAULTS.some((f) => unseenName(f) === n));
  if (unknown.length) throw new Error(`unknown unseen fault(s): ${unknown.join(', ')} (known: ${UNSEEN_FAULTS.map(unseenName).join(', ')})`);
  return UNSEEN_FAULTS.filter((f) => only.includes(unseenName(f)));
}

/**
 * The suite against each fault of the red-team round (unseen.ts), by its
 * module path as `run --impl` takes it; --oracle invariants unless the
 * options say otherwise, no corpus column (as for the answer faults).
 */
export async function runUnseenFaults(opts: MutantRunOptions = {}): Promise<MutantRow[]> {
  const rows: MutantRow[] = [];
  for (const fault of selectUnseen(opts.only)) {
    const base = unseenBase(fault);
    const row = await suiteRow(base, () => runBudgeted(base.name, unseenPath(fault), { ...opts, ...(fault.profile && { profile: fault.profile }), ...(fault.failNth && { failNth: true }) }, 'invariants'));
    rows.push(row);
    opts.onRow?.(row);
  }
  return rows;
}

/** Median of the defined values (undefined when there are none). */
export function median(values: readonly (number | undefined)[]): number | undefined {
  const v = values.filter((x): x is number => x !== undefined).sort((a, b) => a - b);
  if (v.length === 0) return undefined;
  const mid = Math.floor(v.length / 2);
  return v.length % 2 ? v[mid] : ((v[mid - 1] as number) + (v[mid] as number)) / 2;
}

/** The table as text: one row per mutant, then the medians and the survivors. */
export function formatMutantTable(rows: readonly MutantRow[], oracle: OracleSet, what: 'mutant' | 'fault' = 'mutant'): string {
  const head = [what, 'class', 'suite', 'oracles', 'properties', 'kill s', 'shrunk ioctls/steps', 'corpus'];
  const body = rows.map((r) => [
    r.name,
    `${r.class}${r.security ? '*' : ''}`,
    r.verdict,
    r.killedBy.join('+') || '-',
    r.properties.join(',') || (r.error ? r.error.slice(0, 40) : '-'),
    r.secondsToKill !== undefined ? `${r.secondsToKill.toFixed(1)}${r.knownKill ? '†' : ''}` : '-',
    r.shrunkLength !== undefined ? `${r.shrunkIoctls ?? '-'}/${r.shrunkLength}` : '-',
    r.corpus ? (r.corpus.killed ? `killed (${r.corpus.program})` : 'survived') : 'not run',
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => (b[i] as string).length)));
  const line = (cells: readonly string[]) => cells.map((c, i) => c.padEnd(widths[i] as number)).join('  ').trimEnd();
  const killed = rows.filter((r) => r.verdict === 'killed');
  const out = [line(head), line(widths.map((w) => '-'.repeat(w))), ...body.map(line)];
  const mk = median(killed.filter((r) => !r.knownKill).map((r) => r.secondsToKill));
  const ms = median(killed.map((r) => r.shrunkLength));
  const mi = median(killed.map((r) => r.shrunkIoctls));
  out.push('');
  out.push(`--oracle ${oracle}: ${killed.length}/${rows.length} killed by the suite; median time to kill ${mk === undefined ? '-' : `${mk.toFixed(1)} s`}; median shrunk counterexample ${mi ?? '-'} ioctl commands (${ms ?? '-'} steps with the environment operations and observations)`);
  const corpusRun = rows.filter((r) => r.corpus);
  if (corpusRun.length) out.push(`the fixed corpus alone kills ${corpusRun.filter((r) => r.corpus?.killed).length}/${corpusRun.length}`);
  const survivors = rows.filter((r) => r.verdict !== 'killed');
  if (survivors.length) out.push(`not killed: ${survivors.map((r) => `${r.name} (${r.verdict})`).join(', ')}`);
  if (killed.some((r) => r.knownKill)) out.push(`† killed by replaying its known kill (--known-kills): the time of that one case, left out of the median time to kill`);
  out.push(`* security ${what} (isolation, confinement, coherency): must be killed by --oracle invariants too`);
  return out.join('\n');
}
