/**
 * `iommufd-spec kernel …`: the real-kernel lanes (conformance/kernel/README.md).
 *   kernel build    --profile P…   build (or reuse) the kernel and the guest initramfs
 *   kernel test     --profile P…   build-or-reuse, boot, run the end-to-end smoke scenario,
 *                                  then the program corpus (conformance/programs/corpus)
 *                                  with the lane's expectations file, then a pinned-seed
 *                                  budget of the random suite (run --impl linux-P, gated by
 *                                  conformance/suite/expectations/linux-P.json), then the
 *                                  suite's replay files as C programs in the guest
 *                                  (conformance/kernel/repro/suite/linux-P/)
 *   kernel selftest --profile P…   run the kernel's own iommufd selftests once in the VM
 *   kernel bench    --profile P…   round-trip latency and ioctls/s, unbatched and batched
 *   kernel prune    --profile P…   remove cached kernels, object trees and guests of stale keys
 * Every subcommand takes --json. Exit codes: 0 all passed, 1 a check failed,
 * 2 bad options or a lane that could not be built or booted.
 */
import type { Command } from 'commander';
import type { RegisterCommand } from './register.ts';
import { UsageError } from '../usage.ts';
import { isProfile, PROFILES, type Profile } from '../../spec/uapi/profiles.ts';
import { buildGuest, LaneError } from '../../conformance/kernel/qemu.ts';
import { openKernelAdapter, type KernelAdapter } from '../../conformance/kernel/lane.ts';
import { runSmokeScenario, type SmokeStep } from '../../conformance/kernel/smoke.ts';
import { judgeSelftests, runKernelSelftests } from '../../conformance/kernel/selftest.ts';
import { benchAdapter, type BenchResult } from '../../conformance/adapter/bench.ts';
import { basename, dirname, join, relative } from 'node:path';
import { readdirSync, rmSync } from 'node:fs';
import { REPO_ROOT, runKernelScript } from '../../conformance/kernel/qemu.ts';
import { loadPrograms } from '../../conformance/programs/load.ts';
import { runProgram } from '../../conformance/programs/run.ts';
import { resetAdapter } from '../../conformance/programs/session.ts';
import { loadEntries, printRun } from './exec.ts';
import { runSuite, type SuiteResult } from '../../conformance/suite/runner.ts';
import { defaultSuiteExpectations, loadSuiteExpectations } from '../../conformance/suite/expectations.ts';
import { formatPretty } from '../../conformance/suite/report.ts';
import { checkReplaysInGuest, type ReplayCheck } from '../../conformance/kernel/repro.ts';
import { liveRun, regenerate } from '../../conformance/kernel/pt-harness/lane.ts';
import './implementations.ts';

interface CommonOptions {
  profile: string[];
  json?: boolean;
  quiet?: boolean;
}

interface TestOptions extends CommonOptions {
  /** commander's --no-corpus */
  corpus: boolean;
  programs: string;
  verbose?: boolean;
  /** commander's --no-suite / --no-repro */
  suite: boolean;
  repro: boolean;
  suiteRuns: string;
  suiteSeed: string;
  suiteMaxCommands: string;
}

interface SuiteLaneReport {
  verdict: SuiteResult['verdict'];
  seed: number;
  cases: number;
  commands: number;
  seconds: number;
  commandsPerSecond: number;
  known: number;
  text: string;
}

/** The CI budget of the random suite on a lane: pinned seed, small, gated by the lane's suite expectations. */
async function runSuiteBudget(profile: Profile, opts: TestOptions): Promise<SuiteLaneReport> {
  const impl = `linux-${profile}`;
  const file = defaultSuiteExpectations(impl);
  const expectations = file ? loadSuiteExpectations(file).entries : [];
  const seed = Number(opts.suiteSeed);
  const t0 = performance.now();
  const r = await runSuite({ impl, profile, seed, runs: Number(opts.suiteRuns), maxCommands: Number(opts.suiteMaxCommands), expectations });
  const seconds = (performance.now() - t0) / 1000;
  const commands = r.blocks.reduce((n, b) => n + b.commands, 0);
  const caseMs = r.blocks.reduce((n, b) => n + b.ms, 0);
  return {
    verdict: r.verdict,
    seed,
    cases: r.blocks.reduce((n, b) => n + b.cases, 0),
    commands,
    seconds,
    commandsPerSecond: caseMs > 0 ? commands / (caseMs / 1000) : 0,
    known: r.blocks.reduce((n, b) => n + b.known.length, 0),
    text: formatPretty(r, file ? { expectationsFile: file } : {}),
  };
}

interface CorpusReport {
  programs: number;
  ran: number;
  skipped: number;
  failures: number;
  known: number;
  seconds: number;
  /** Printed runs of the programs with failures (all runs with --verbose). */
  output: string;
}

/** How often the corpus reports progress (programs). */
const CORPUS_PROGRESS_EVERY = 50;

/**
 * Runs the program corpus on an open lane, judged against
 * conformance/programs/expectations/linux-<profile>.json. `live` gets each
 * failing program's run (every run with `verbose`) as it finishes, and a
 * progress line every CORPUS_PROGRESS_EVERY programs.
 */
async function runCorpus(adapter: KernelAdapter, dir: string, verbose: boolean, live: (text: string) => void): Promise<CorpusReport> {
  const t0 = performance.now();
  const programs = loadPrograms([dir]);
  const caps = await adapter.call({ op: 'capabilities' });
  if (!caps.ok) throw new LaneError('corpus', `capabilities failed: ${caps.error.message}`);
  const entries = loadEntries(undefined, `linux-${adapter.profile}`);
  const report: CorpusReport = { programs: programs.length, ran: 0, skipped: 0, failures: 0, known: 0, seconds: 0, output: '' };
  for (const [i, p] of programs.entries()) {
    // Each program starts from the contract's fresh state (ADAPTER.md §3.11).
    const stale = i > 0 ? await resetAdapter(adapter, caps.result) : undefined;
    if (stale) throw new LaneError('corpus', `cannot bring the lane back to a fresh state between programs: ${stale}`);
    const run = await runProgram(p, adapter, caps.result, { batch: true });
    if (run.skipped) report.skipped++;
    else report.ran++;
    const text: string[] = [];
    const v = printRun(run, entries, (line) => text.push(line));
    report.failures += v.failures;
    report.known += v.known;
    if (verbose || v.failures > 0) {
      report.output += text.join('');
      live(text.join('').trimEnd());
    }
    const done = i + 1;
    if (done % CORPUS_PROGRESS_EVERY === 0 && done < programs.length) {
      live(`  corpus: ${done}/${programs.length} programs, ${report.failures} failures so far (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
    }
  }
  report.seconds = (performance.now() - t0) / 1000;
  return report;
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

function profilesOf(sub: string, opts: CommonOptions): Profile[] {
  const list = opts.profile.length > 0 ? opts.profile : [...PROFILES];
  return list.map((p) => {
    if (!isProfile(p)) throw new UsageError(`kernel ${sub}: --profile: unknown profile '${p}' (expected ${PROFILES.join(' or ')})`);
    return p;
  });
}

function progressFor(opts: CommonOptions): ((line: string) => void) | undefined {
  return opts.quiet || opts.json ? undefined : (line) => process.stderr.write(`${line}\n`);
}

function say(opts: CommonOptions, text: string): void {
  if (!opts.json) process.stdout.write(`${text}\n`);
}

function laneFailure(e: unknown): string {
  if (e instanceof LaneError) return e.message;
  if (e instanceof Error) return `${e.name}: ${e.message}`;
  return String(e);
}

function withCommon(cmd: Command): Command {
  return cmd
    .option('--profile <profile>', `kernel profile (${PROFILES.join(', ')}); repeatable; default: all`, collect, [])
    .option('--json', 'print one JSON document on stdout')
    .option('--quiet', 'no build/boot progress on stderr');
}

async function buildAction(opts: CommonOptions, setExit: (code: number) => void): Promise<void> {
  const results: { profile: Profile; ok: boolean; seconds: number; dir?: string; error?: string }[] = [];
  for (const profile of profilesOf('build', opts)) {
    const t0 = performance.now();
    try {
      const image = await buildGuest(profile, progressFor(opts));
      const seconds = (performance.now() - t0) / 1000;
      results.push({ profile, ok: true, seconds, dir: image.dir });
      say(opts, `linux-${profile}: kernel and guest ready in ${seconds.toFixed(1)} s: ${image.dir}`);
    } catch (e) {
      results.push({ profile, ok: false, seconds: (performance.now() - t0) / 1000, error: laneFailure(e) });
      say(opts, `linux-${profile}: build FAILED: ${laneFailure(e)}`);
    }
  }
  if (opts.json) process.stdout.write(`${JSON.stringify({ builds: results }, null, 2)}\n`);
  setExit(results.every((r) => r.ok) ? 0 : 2);
}

interface LaneTestReport {
  profile: Profile;
  started: boolean;
  error?: string;
  implementation?: string;
  timings?: { buildSeconds: number; bootSeconds: number; firstResultSeconds: number; totalSeconds: number };
  smoke?: SmokeStep[];
  corpus?: CorpusReport;
  suite?: SuiteLaneReport;
  replays?: { checks: ReplayCheck[]; seconds: number };
  /** Kernel WARN/BUG/oops reports on the guest console during the run. */
  splats?: string[];
  passed: boolean;
}

/**
 * One lane: build or reuse, boot, smoke scenario, corpus. Results are printed
 * as they happen (each smoke step when it answers, corpus progress and each
 * failing program as it finishes), not after the corpus; --json prints only
 * the final document.
 */
async function testLane(profile: Profile, opts: TestOptions): Promise<LaneTestReport> {
  const t0 = performance.now();
  const live = (text: string): void => say(opts, text);
  let adapter: KernelAdapter;
  try {
    const progress = progressFor(opts);
    adapter = await openKernelAdapter(profile, progress ? { progress } : {});
  } catch (e) {
    return { profile, started: false, error: laneFailure(e), passed: false };
  }
  const implementation = `${adapter.info.implementation.name} ${adapter.info.implementation.version}`;
  live(`linux-${profile}: ${implementation} (ready after ${((performance.now() - t0) / 1000).toFixed(1)} s)`);
  let laneOpen = true;
  try {
    const steps = await runSmokeScenario(adapter, undefined, (s) => live(`  ${s.ok ? 'ok  ' : 'FAIL'} ${s.step}: ${s.detail}`));
    const firstResult = (performance.now() - t0) / 1000;
    const smokePassed = steps.length > 0 && steps.every((s) => s.ok);
    live(`  smoke scenario: ${smokePassed ? 'passed' : 'FAILED'} (${steps.length} steps, results after ${firstResult.toFixed(1)} s)`);
    if (opts.corpus) live(`  corpus: running ${relative(process.cwd(), opts.programs) || '.'} …`);
    const corpus = opts.corpus ? await runCorpus(adapter, opts.programs, opts.verbose === true, live) : undefined;
    const splats = adapter.splats();
    laneOpen = false;
    await adapter.close();
    // One VM at a time: the suite and the C programs boot their own guests after the lane's is gone.
    const suite = opts.suite ? await runSuiteBudget(profile, opts) : undefined;
    const replays = opts.repro ? await checkReplaysInGuest(profile, progressFor(opts)) : undefined;
    if (replays) splats.push(...replays.splats);
    const total = (performance.now() - t0) / 1000;
    return {
      profile,
      started: true,
      implementation,
      timings: {
        buildSeconds: adapter.timings.buildMs / 1000,
        bootSeconds: adapter.timings.bootMs / 1000,
        firstResultSeconds: firstResult,
        totalSeconds: total,
      },
      smoke: steps,
      ...(corpus && { corpus }),
      ...(suite && { suite }),
      ...(replays && { replays: { checks: replays.checks, seconds: replays.seconds } }),
      splats,
      passed:
        smokePassed &&
        (corpus === undefined || corpus.failures === 0) &&
        (suite === undefined || suite.verdict === 'pass') &&
        (replays === undefined || replays.checks.every((c) => c.ok)) &&
        splats.length === 0,
    };
  } catch (e) {
    // After the lane's own guest is gone, a failure (a later guest's) carries its own console.
    const guestConsole = laneOpen ? `\n--- guest console ---\n${adapter.consoleTail()}` : '';
    if (laneOpen) await adapter.close().catch(() => undefined);
    return { profile, started: true, implementation, error: `${laneFailure(e)}${guestConsole}`, passed: false };
  }
}

/** The lane's closing lines (what testLane has not printed as it went). */
function printLaneEnd(opts: TestOptions, r: LaneTestReport): void {
  if (!r.started) {
    say(opts, `linux-${r.profile}: could not start the lane: ${r.error ?? ''}`);
    return;
  }
  if (r.corpus) {
    const c = r.corpus;
    say(opts, `  corpus: ${c.programs} programs (${c.ran} ran, ${c.skipped} skipped for the profile or for what the lane cannot serve) in ${c.seconds.toFixed(1)} s: ${c.failures} failures, ${c.known} known (conformance/programs/expectations/linux-${r.profile}.json)`);
  }
  if (r.suite) {
    const u = r.suite;
    if (u.verdict !== 'pass' || opts.verbose) say(opts, u.text.trimEnd().replace(/^/gm, '    '));
    say(opts, `  suite: run --impl linux-${r.profile} --seed ${u.seed}: ${u.cases} cases, ${u.commands} commands in ${u.seconds.toFixed(1)} s (${u.commandsPerSecond.toFixed(1)} checked commands/s in cases), ${u.known} known divergences: ${u.verdict.toUpperCase()}`);
  }
  for (const c of r.replays?.checks ?? []) {
    say(opts, `  ${c.ok ? 'ok  ' : 'FAIL'} C ${c.mustDiverge ? 'reproducer' : 'control'} ${c.name}: ${c.why}`);
    if (!c.ok || opts.verbose) say(opts, c.output.trimEnd().replace(/^/gm, '      '));
  }
  for (const splat of r.splats ?? []) say(opts, `  KERNEL SPLAT on the guest console:\n${splat.replace(/^/gm, '    ')}`);
  if (r.error) say(opts, `  error: ${r.error}`);
  if (r.timings) {
    const t = r.timings;
    say(opts, `  build/reuse ${t.buildSeconds.toFixed(1)} s, boot ${t.bootSeconds.toFixed(1)} s, smoke results after ${t.firstResultSeconds.toFixed(1)} s, total ${t.totalSeconds.toFixed(1)} s`);
  }
  say(opts, `linux-${r.profile}: ${r.passed ? 'PASS' : 'FAIL'}`);
}

async function testAction(opts: TestOptions, setExit: (code: number) => void): Promise<void> {
  const reports: LaneTestReport[] = [];
  for (const profile of profilesOf('test', opts)) {
    const r = await testLane(profile, opts);
    reports.push(r);
    printLaneEnd(opts, r);
  }
  if (opts.json) process.stdout.write(`${JSON.stringify({ lanes: reports }, null, 2)}\n`);
  setExit(reports.some((r) => !r.started) ? 2 : reports.every((r) => r.passed) ? 0 : 1);
}

async function selftestAction(opts: CommonOptions, setExit: (code: number) => void): Promise<void> {
  const reports: unknown[] = [];
  let code = 0;
  for (const profile of profilesOf('selftest', opts)) {
    try {
      const run = await runKernelSelftests(profile, progressFor(opts));
      const allRan = run.binaries.length === 2 && run.binaries.every((b) => b.status !== null);
      const verdict = judgeSelftests(run);
      say(opts, `linux-${profile}: kernel selftests (${run.seconds.toFixed(1)} s in the guest)`);
      for (const b of run.binaries) {
        say(opts, `  ${b.name}: ${b.pass} pass, ${b.fail} fail, ${b.skip} skip (exit status ${b.status ?? 'none: did not finish'})`);
      }
      for (const f of verdict.unexpected) say(opts, `    UNEXPECTED not ok: ${f.binary} ${f.test}`);
      const reasons = new Set(verdict.known.map((k) => k.reason));
      if (verdict.known.length > 0) {
        say(opts, `    known failures (${verdict.known.length}, conformance/kernel/expectations/selftests.json): ${verdict.known.map((k) => k.test).join(', ')}`);
        for (const r of reasons) say(opts, `      why: ${r}`);
      }
      for (const f of verdict.stale) say(opts, `    listed as failing but did not fail: ${f.binary} ${f.test}`);
      if (!allRan) say(opts, '  not every selftest binary finished');
      for (const splat of run.splats) say(opts, `  KERNEL SPLAT on the guest console:\n${splat.replace(/^/gm, '    ')}`);
      if (!allRan || verdict.unexpected.length > 0 || run.splats.length > 0) code = Math.max(code, 1);
      reports.push({ profile: run.profile, seconds: run.seconds, binaries: run.binaries, complete: allRan, verdict, splats: run.splats });
    } catch (e) {
      say(opts, `linux-${profile}: selftest run FAILED: ${laneFailure(e)}`);
      reports.push({ profile, error: laneFailure(e) });
      code = 2;
    }
  }
  if (opts.json) process.stdout.write(`${JSON.stringify({ selftests: reports }, null, 2)}\n`);
  setExit(code);
}

interface BenchCliOptions extends CommonOptions {
  single: string;
  batches: string;
  batchSize: string;
}

function positive(name: string, v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new UsageError(`kernel bench: ${name}: expected a positive integer, got '${v}'`);
  return n;
}

async function benchAction(opts: BenchCliOptions, setExit: (code: number) => void): Promise<void> {
  const out: { profile: Profile; result?: BenchResult; error?: string; readySeconds?: number }[] = [];
  const single = positive('--single', opts.single);
  const batches = positive('--batches', opts.batches);
  const batchSize = positive('--batch-size', opts.batchSize);
  let code = 0;
  for (const profile of profilesOf('bench', opts)) {
    const t0 = performance.now();
    let adapter: KernelAdapter | undefined;
    try {
      const progress = progressFor(opts);
      adapter = await openKernelAdapter(profile, progress ? { progress } : {});
      const readySeconds = (performance.now() - t0) / 1000;
      const result = await benchAdapter(adapter, { single, batches, batchSize });
      out.push({ profile, result, readySeconds });
      say(opts, `linux-${profile} (ready after ${readySeconds.toFixed(1)} s):`);
      say(opts, `  unbatched: ${result.single.ioctls} ioctls, ${result.single.perSecond.toFixed(0)}/s, round trip median ${result.single.rttMsMedian.toFixed(2)} ms, p95 ${result.single.rttMsP95.toFixed(2)} ms`);
      say(opts, `  batched (${result.batched.batchSize} per batch): ${result.batched.ioctls} ioctls, ${result.batched.perSecond.toFixed(0)}/s, batch median ${result.batched.batchMsMedian.toFixed(1)} ms`);
    } catch (e) {
      out.push({ profile, error: laneFailure(e) });
      say(opts, `linux-${profile}: bench FAILED: ${laneFailure(e)}`);
      code = 2;
    } finally {
      await adapter?.close().catch(() => undefined);
    }
  }
  if (opts.json) process.stdout.write(`${JSON.stringify({ bench: out }, null, 2)}\n`);
  setExit(code);
}

/** Keeps the current key's entries (as the scripts report them) and removes the profile's others. */
async function pruneAction(opts: CommonOptions, setExit: (code: number) => void): Promise<void> {
  let code = 0;
  for (const profile of profilesOf('prune', opts)) {
    try {
      const progress = progressFor(opts);
      const kernel = await runKernelScript('build.sh', [profile], progress);
      const guest = (await buildGuest(profile, progress)).dir;
      const cache = dirname(dirname(kernel));
      const keep = new Set([basename(kernel), basename(guest)]);
      const removed: string[] = [];
      for (const sub of ['kernels', 'build', 'guests']) {
        let names: string[];
        try {
          names = readdirSync(join(cache, sub));
        } catch {
          continue;
        }
        for (const name of names) {
          const key = name.replace(/\.lock$/, '');
          // build/<profile> (the object tree, reused across keys) never matches; older
          // build/<profile>-<key> trees (one per key, before) are removed.
          if (!key.startsWith(`${profile}-`) || keep.has(key)) continue;
          rmSync(join(cache, sub, name), { recursive: true, force: true });
          removed.push(`${sub}/${name}`);
        }
      }
      say(opts, `linux-${profile}: kept ${[...keep].join(', ')}; removed ${removed.length ? removed.join(', ') : 'nothing'}`);
    } catch (e) {
      say(opts, `linux-${profile}: prune FAILED: ${laneFailure(e)}`);
      code = 2;
    }
  }
  setExit(code);
}

interface PtVectorsOptions extends CommonOptions {
  check?: boolean;
  seed?: string;
  runs: string;
  /** commander's --no-live */
  live: boolean;
}

/**
 * `kernel pt-vectors`: the page-table differential lane (conformance/kernel/pt-harness/README.md).
 * Exit 1 when the committed vectors are stale (--check) or our core differs from the kernel.
 */
async function ptVectorsAction(opts: PtVectorsOptions, setExit: (code: number) => void): Promise<void> {
  const runs = Number(opts.runs);
  if (!Number.isInteger(runs) || runs < 1) throw new UsageError(`--runs must be a positive integer (got '${opts.runs}')`);
  const seed = opts.seed === undefined ? Math.floor(Math.random() * 2 ** 31) : Number(opts.seed);
  if (!Number.isInteger(seed)) throw new UsageError(`--seed must be an integer (got '${opts.seed}')`);
  let code = 0;
  const reports: unknown[] = [];
  for (const profile of profilesOf('pt-vectors', opts)) {
    const log = (l: string): void => {
      if (!opts.quiet && !opts.json) process.stderr.write(`${l}\n`);
    };
    try {
      const r = await regenerate(profile, opts.check === true, log);
      say(opts, `linux-${profile} page tables: ${r.files} configurations, ${r.cases} cases from the pinned seed` +
        (opts.check ? `; ${r.stale.length} stale vector files` : `; ${r.written.length} vector files written`) +
        `; ${r.mismatches.length} mismatches with the core`);
      for (const f of r.stale) say(opts, `  stale: ${f} (regenerate with: iommufd-spec kernel pt-vectors)`);
      for (const m of r.mismatches.slice(0, 40)) say(opts, `  MISMATCH ${m.where} ${m.op} ${m.field}: kernel ${m.kernel} | core ${m.core}`);
      if (r.stale.length > 0 || r.mismatches.length > 0) code = 1;
      let live = null;
      if (opts.live) {
        say(opts, `linux-${profile} page tables: live run, seed ${seed} (${runs} sequences per configuration)`);
        live = await liveRun(profile, seed, runs, log);
        for (const f of live.failures) say(opts, `  LIVE FAILURE (seed ${seed}) ${f}`);
        say(opts, `linux-${profile} page tables: live seed ${seed}: ${live.configs} configurations, ${live.failures.length} failing`);
        if (live.failures.length > 0) code = 1;
      }
      reports.push({ profile, regenerate: { ...r, mismatches: r.mismatches.length }, live });
    } catch (e) {
      say(opts, `linux-${profile} page tables: FAILED: ${e instanceof Error ? e.message : String(e)}`);
      code = 2;
    }
  }
  if (opts.json) process.stdout.write(`${JSON.stringify(reports, null, 2)}\n`);
  setExit(code);
}

export const register: RegisterCommand = (program: Command, setExit) => {
  const kernel = program.command('kernel').description('the real-kernel lanes: Linux 6.12 / 7.3 with the iommufd mock driver under QEMU (conformance/kernel/README.md)');
  withCommon(kernel.command('build').description('build or reuse the kernel and the guest initramfs (cached in ~/.cache/iommufd-spec)')).action(
    (opts: CommonOptions) => buildAction(opts, setExit),
  );
  withCommon(kernel.command('test').description('build-or-reuse, boot, run the end-to-end smoke scenario and the program corpus through the lane'))
    .option('--no-corpus', 'only the smoke scenario')
    .option('--programs <dir>', 'programs to run after the smoke scenario', join(REPO_ROOT, 'conformance/programs/corpus'))
    .option('--verbose', 'print every program run, not only failing ones')
    .option('--no-suite', 'skip the random suite budget')
    .option('--suite-runs <n>', 'cases of the random suite budget', '200')
    .option('--suite-seed <n>', 'seed of the random suite budget (pinned)', '1')
    .option('--suite-max-commands <n>', 'commands per case of the budget', '60')
    .option('--no-repro', "skip the suite's replay files as C programs in the guest")
    .action((opts: TestOptions) => testAction(opts, setExit));
  withCommon(kernel.command('selftest').description("run the kernel's own iommufd selftest binaries once in the VM")).action(
    (opts: CommonOptions) => selftestAction(opts, setExit),
  );
  withCommon(kernel.command('bench').description('round-trip latency and ioctls per second through the lane, unbatched and batched'))
    .option('--single <n>', 'unbatched ioctls', '200')
    .option('--batches <n>', 'number of batches', '20')
    .option('--batch-size <n>', 'ioctls per batch', '100')
    .action((opts: BenchCliOptions) => benchAction(opts, setExit));
  withCommon(
    kernel
      .command('pt-vectors')
      .description("the page-table differential lane: regenerate the vectors from the kernel's own page-table code, replay them against the core, run a fresh seed live"),
  )
    .option('--check', 'fail when the committed vectors differ from the regenerated ones (instead of writing them)')
    .option('--seed <n>', 'seed of the live run (default: random, printed)')
    .option('--runs <n>', 'live sequences per configuration', '10')
    .option('--no-live', 'skip the live run')
    .action((opts: PtVectorsOptions) => ptVectorsAction(opts, setExit));
  withCommon(kernel.command('prune').description('remove cached kernels, object trees and guests whose key is no longer current')).action(
    (opts: CommonOptions) => pruneAction(opts, setExit),
  );
};
