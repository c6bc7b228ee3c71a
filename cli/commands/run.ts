/**
 * `iommufd-spec run --impl <ref | linux-6.12 | linux-7.3 | module path | cmd:"…">
 *   [--seed N] [--runs N] [--max-commands N] [--profile 6.12|7.3]
 *   [--oracle full|invariants] [--expectations FILE] [--update-expectations]
 *   [--reporter pretty|json|junit] [--out FILE] [--jobs N] [--shard I/N] [--fail-nth]`
 *
 * The random conformance suite (conformance/suite/): random ioctl sequences
 * judged by the differential, lifecycle and invariants oracles. A progress
 * bar on a terminal; a summary of properties × pass/fail/skip; every failure
 * shrunk to a numbered program and saved as a replay file. Exit 0 pass, 1 a
 * conformance failure, 2 a usage error or an implementation that could not
 * be started.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { SingleBar, Presets } from 'cli-progress';
import type { Command } from 'commander';
import type { RegisterCommand } from './register.ts';
import { UsageError } from '../usage.ts';
import { isProfile, PROFILES, type Profile } from '../../spec/uapi/profiles.ts';
import { isAdapterSpec, registeredImplementations } from '../../conformance/adapter/open.ts';
import { impliedProfile } from '../../conformance/programs/session.ts';
import { DEFAULTS, runSuite, SuiteStartError, type OracleSet, type Progress, type SuiteOptions, type SuiteResult } from '../../conformance/suite/runner.ts';
import { runSuiteParallel } from '../../conformance/suite/workers.ts';
import { formatJson, formatJunit, formatPretty } from '../../conformance/suite/report.ts';
import {
  defaultSuiteExpectations,
  entriesFor,
  loadSuiteExpectations,
  SUITE_EXPECTATIONS_DIR,
  SuiteExpectationsError,
  writeSuiteExpectations,
  type SuiteExpectation,
} from '../../conformance/suite/expectations.ts';
import './implementations.ts';

export interface RunCliOptions {
  impl?: string;
  seed?: string;
  runs?: string;
  maxCommands?: string;
  profile?: string;
  oracle?: string;
  expectations?: string;
  updateExpectations?: boolean;
  reporter?: string;
  out?: string;
  jobs?: string;
  shard?: string;
  failNth?: boolean;
  timeout?: string;
  replayDir?: string;
  blockSize?: string;
}

function int(flag: string, v: string | undefined, min: number, fallback: number): number {
  if (v === undefined) return fallback;
  if (!/^-?\d+$/.test(v)) throw new UsageError(`run: ${flag}: expected an integer, got '${v}'`);
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < min) throw new UsageError(`run: ${flag}: expected an integer >= ${min}, got '${v}'`);
  return n;
}

export interface ParsedRun {
  readonly suite: SuiteOptions & { readonly impl: string };
  readonly reporter: 'pretty' | 'json' | 'junit';
  readonly out?: string;
  readonly jobs: number;
  readonly expectationsFile?: string;
  readonly updateExpectations: boolean;
  readonly replayDir?: string;
}

/** Checks every flag; a bad one is a UsageError naming it. */
export function parseRunOptions(o: RunCliOptions): ParsedRun {
  const impl = o.impl;
  if (impl === undefined || impl === '') throw new UsageError("run: option '--impl <name>' is required (ref, linux-6.12, linux-7.3, a module path, or cmd:\"<command line>\")");
  if (!isAdapterSpec(impl)) {
    const known = registeredImplementations().map((r) => r.name).join(', ');
    throw new UsageError(`run: --impl: unknown implementation '${impl}' (known: ${known}; or cmd:<command line>, or a path to a module exporting createAdapter)`);
  }
  if (o.profile !== undefined && !isProfile(o.profile)) throw new UsageError(`run: --profile: unknown profile '${o.profile}' (expected ${PROFILES.join(' or ')})`);
  const lane = impliedProfile(impl);
  if (o.profile !== undefined && lane !== undefined && o.profile !== lane) throw new UsageError(`run: --profile ${o.profile} does not match --impl ${impl}`);
  const oracle = o.oracle ?? 'full';
  if (oracle !== 'full' && oracle !== 'invariants') throw new UsageError(`run: --oracle: expected full or invariants, got '${oracle}'`);
  const reporter = o.reporter ?? 'pretty';
  if (reporter !== 'pretty' && reporter !== 'json' && reporter !== 'junit') throw new UsageError(`run: --reporter: expected pretty, json or junit, got '${reporter}'`);
  let shard: { index: number; count: number } | undefined;
  if (o.shard !== undefined) {
    const m = /^(\d+)\/(\d+)$/.exec(o.shard);
    if (!m) throw new UsageError(`run: --shard: expected I/N (e.g. 2/4), got '${o.shard}'`);
    const index = Number(m[1]);
    const count = Number(m[2]);
    if (count < 1 || index < 1 || index > count) throw new UsageError(`run: --shard: ${o.shard}: I must be between 1 and N`);
    shard = { index, count };
  }
  const jobs = int('--jobs', o.jobs, 1, 1);
  if (jobs > 1 && !/^(ref|cmd:|linux-)/.test(impl) && !/\.(ts|mts|js|mjs)$/.test(impl)) throw new UsageError(`run: --jobs: ${impl} cannot be opened from worker threads`);
  const expectationsFile = o.expectations ?? defaultSuiteExpectations(impl);
  let expectations: readonly SuiteExpectation[] = [];
  if (expectationsFile !== undefined && (existsSync(expectationsFile) || !o.updateExpectations)) {
    try {
      expectations = loadSuiteExpectations(expectationsFile).entries;
    } catch (err) {
      if (err instanceof SuiteExpectationsError) throw new UsageError(`run: --expectations: ${err.message}`);
      throw err;
    }
  }
  const suite: SuiteOptions & { impl: string } = {
    impl,
    ...((o.profile ?? lane) !== undefined && { profile: (o.profile ?? lane) as Profile }),
    seed: int('--seed', o.seed, -(2 ** 31), DEFAULTS.seed),
    runs: int('--runs', o.runs, 1, DEFAULTS.runs),
    maxCommands: int('--max-commands', o.maxCommands, 1, DEFAULTS.maxCommands),
    oracle: oracle as OracleSet,
    // none found for the name given: the runner looks for the one the implementation reports
    ...(expectationsFile !== undefined && { expectations }),
    timeoutMs: int('--timeout', o.timeout, 1, DEFAULTS.timeoutMs),
    blockSize: int('--block-size', o.blockSize, 1, DEFAULTS.blockSize),
    ...(shard && { shard }),
    ...(o.failNth && { failNth: true }),
  };
  return {
    suite,
    reporter,
    ...(o.out !== undefined && { out: o.out }),
    jobs,
    ...(expectationsFile !== undefined && { expectationsFile }),
    updateExpectations: o.updateExpectations ?? false,
    ...(o.replayDir !== undefined && { replayDir: o.replayDir }),
  };
}

function progressBar(): { onProgress: (p: Progress) => void; stop: () => void } {
  if (!process.stderr.isTTY) return { onProgress: () => {}, stop: () => {} };
  const bar = new SingleBar({ format: 'run {bar} {value}/{total} cases {note}', hideCursor: true, stream: process.stderr }, Presets.shades_classic);
  let started = false;
  const done = new Map<number, number>();
  const totals = new Map<number, number>();
  return {
    onProgress(p) {
      done.set(p.block, p.casesDone);
      totals.set(p.block, p.casesTotal);
      const total = [...totals.values()].reduce((a, b) => a + b, 0);
      const value = [...done.values()].reduce((a, b) => a + b, 0);
      if (!started) {
        bar.start(total, value, { note: '' });
        started = true;
      }
      bar.setTotal(Math.max(total, value));
      bar.update(value, { note: p.phase === 'shrink' ? '(shrinking a counterexample)' : '' });
    },
    stop() {
      if (started) bar.stop();
    },
  };
}

/** Where a failure's replay program goes. */
function replayPath(parsed: ParsedRun, r: SuiteResult): string | undefined {
  if (!r.failure) return undefined;
  const dir = parsed.replayDir ?? (parsed.out ? dirname(resolve(parsed.out)) : resolve('iommufd-spec-replays'));
  return join(dir, `${r.failure.program.name}.json`);
}

export async function runFromCli(parsed: ParsedRun, write: (s: string) => void = (s) => process.stdout.write(s)): Promise<number> {
  const bar = progressBar();
  let result: SuiteResult;
  try {
    const suite = { ...parsed.suite, onProgress: bar.onProgress };
    result = parsed.jobs > 1 ? await runSuiteParallel({ ...suite, jobs: parsed.jobs }) : await runSuite(suite);
  } catch (err) {
    bar.stop();
    if (err instanceof SuiteStartError) throw new UsageError(err.message);
    throw err;
  }
  bar.stop();
  const replayFile = replayPath(parsed, result);
  if (replayFile && result.failure) {
    mkdirSync(dirname(replayFile), { recursive: true });
    writeFileSync(replayFile, `${JSON.stringify(result.failure.program, null, 2)}\n`);
  }
  if (parsed.updateExpectations && result.failure) {
    const file = parsed.expectationsFile ?? join(SUITE_EXPECTATIONS_DIR, `${parsed.suite.impl.replace(/[^A-Za-z0-9._-]/g, '_')}.json`);
    mkdirSync(dirname(file), { recursive: true });
    const objections = result.blocks.flatMap((b) => b.failure?.objections.filter((o) => o.step === b.failure?.objections[0]?.step) ?? []);
    writeSuiteExpectations(file, parsed.suite.impl, entriesFor(objections as never, `recorded by --update-expectations (seed ${result.seed}); triage and replace this reason`));
    process.stderr.write(`iommufd-spec run: wrote ${objections.length} expectation(s) to ${file}\n`);
  }
  const text = parsed.reporter === 'json' ? formatJson(result) : parsed.reporter === 'junit' ? formatJunit(result) : formatPretty(result, { ...(replayFile && { replayFile }), ...(parsed.expectationsFile && { expectationsFile: parsed.expectationsFile }) });
  if (parsed.out) {
    mkdirSync(dirname(resolve(parsed.out)), { recursive: true });
    writeFileSync(parsed.out, text);
    if (parsed.reporter !== 'pretty') process.stderr.write(formatPretty(result, { ...(replayFile && { replayFile }) }));
  } else write(text);
  return result.verdict === 'pass' ? 0 : 1;
}

export function addRunOptions(cmd: Command): Command {
  return cmd
    .option('--impl <name>', 'implementation: ref, linux-6.12, linux-7.3, a path to a TS/JS adapter module, or cmd:"<command line>"')
    .option('--seed <n>', `base seed (default ${DEFAULTS.seed})`)
    .option('--runs <n>', `cases (default ${DEFAULTS.runs})`)
    .option('--max-commands <n>', `commands per case at most (default ${DEFAULTS.maxCommands})`)
    .option('--profile <profile>', `kernel profile (${PROFILES.join(' or ')}); default: the implementation's`)
    .option('--oracle <set>', 'full (differential, lifecycle, invariants) or invariants', 'full')
    .option('--expectations <file>', 'known divergences (default: conformance/suite/expectations/<impl>.json if it exists)')
    .option('--update-expectations', 'record the failures of this run in the expectations file')
    .option('--reporter <name>', 'pretty, json or junit', 'pretty')
    .option('--out <file>', 'write the report there instead of stdout')
    .option('--jobs <n>', 'worker threads')
    .option('--shard <i/n>', 'run only shard I of N (merge the JSON results with iommufd-spec merge)')
    .option('--fail-nth', 'sweep injected allocation failures over each passing case (adapters serving fail_nth)')
    .option('--timeout <ms>', `per-command timeout (default ${DEFAULTS.timeoutMs})`)
    .option('--block-size <n>', `cases per block, the unit of sharding (default ${DEFAULTS.blockSize})`)
    .option('--replay-dir <dir>', 'where replay files go (default: beside --out, else ./iommufd-spec-replays)');
}

export const register: RegisterCommand = (program: Command, setExit) => {
  addRunOptions(program.command('run').description('run the random conformance suite against an implementation (differential, lifecycle and invariants oracles)')).action(async (opts: RunCliOptions) => {
    setExit(await runFromCli(parseRunOptions(opts)));
  });
};
