/**
 * `iommufd-spec mutants [--json] [--only NAME[,NAME…]] [--oracle full|invariants]
 *   [--seed N] [--runs N] [--max-commands N] [--profile P] [--no-corpus] [--replay-dir DIR] [--list]
 *   [--answer-faults | --unseen | --lies] [--known-kills FILE [--update-known-kills]]`
 *
 * Runs the suite (run's default budget) against each mutant of the catalogue
 * (conformance/mutants/) and prints a table: killed or survived, by which
 * oracles, seconds to kill, length of the shrunk counterexample, and whether
 * the fixed corpus alone kills it. Each kill's replay file is written to
 * --replay-dir (default ./iommufd-spec-replays/mutants), re-runnable with
 * `iommufd-spec replay FILE --impl mutant:<name>`. Exit 0 when every mutant is
 * killed, 1 when one survives (or the suite errs on it), 2 on a usage error.
 *
 * With --answer-faults it runs the faults behind the protocol instead
 * (answer-faults.ts: the reference behind an adapter whose answers lie),
 * with --oracle invariants unless told otherwise; with --unseen the faults
 * of the red-team round the suite was not written against (unseen.ts,
 * modules under conformance/mutants/unseen/, each an --impl path); with
 * --lies the detection rate of single lies (lies.ts: one answer per case
 * changed, drawn at random among the answers of one kind) by the invariants
 * alone, a table of rates rather than kills (exit 1 only for a false alarm:
 * a case failing on the honest reference).
 *
 * Importing this module registers `mutant:<name>` and `answer-fault:<name>`
 * with the adapter registry, so every command (run, replay, exec, diff) takes
 * `--impl mutant:<name>` or `--impl answer-fault:<name>`.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import type { RegisterCommand } from './register.ts';
import { UsageError } from '../usage.ts';
import { isProfile, PROFILES, type Profile } from '../../spec/uapi/profiles.ts';
import { DEFAULTS, type OracleSet } from '../../conformance/suite/runner.ts';
import { MUTANTS } from '../../conformance/mutants/catalogue.ts';
import { formatMutantTable, type MutantRow, type MutantRunOptions } from '../../conformance/mutants/run.ts';
import { ANSWER_FAULTS } from '../../conformance/mutants/answer-faults.ts';
import { UNSEEN_FAULTS, unseenName, unseenPath } from '../../conformance/mutants/unseen.ts';
import { LIES } from '../../conformance/mutants/lies.ts';
import { KnownKillsError, loadKnownKills, saveKnownKills, updatedKnownKills, type KnownKills } from '../../conformance/mutants/known-kills.ts';
import { DEFAULT_LIE_RUNS, formatLieTable, runLies, type LieRow } from '../../conformance/mutants/lies-run.ts';
import { RUN_KIND, runFaultsParallel, selectedFaults, type FaultKind } from '../../conformance/mutants/parallel.ts';
import './implementations.ts';

interface MutantsCliOptions {
  json?: boolean;
  only?: string;
  oracle?: string;
  seed?: string;
  runs?: string;
  maxCommands?: string;
  profile?: string;
  corpus?: boolean;
  replayDir?: string;
  list?: boolean;
  out?: string;
  shrinkTime?: string;
  answerFaults?: boolean;
  unseen?: boolean;
  lies?: boolean;
  jobs?: string;
  knownKills?: string;
  updateKnownKills?: boolean;
}

/** What a run covers: the catalogue, the faults behind the protocol, or the unseen faults. */
interface Kind {
  readonly rows: 'mutant' | 'fault';
  readonly defaultOracle: 'full' | 'invariants';
  readonly replayDir: string;
  /** How a replay names the implementation (`--impl …`). */
  readonly impl: string;
  list(): { name: string; [k: string]: unknown }[];
}

const KINDS: Record<FaultKind, Kind> = {
  catalogue: {
    rows: 'mutant',
    defaultOracle: 'full',
    replayDir: 'mutants',
    impl: 'mutant:<name>',
    list: () => MUTANTS.map((m) => ({ name: m.name, class: m.class, security: m.security, clauses: m.clauses, invariant: m.invariant, change: m.change, bugClass: m.bugClass, ...(m.kernelFix && { kernelFix: m.kernelFix }) })),
  },
  'answer-faults': {
    rows: 'fault',
    defaultOracle: 'invariants',
    replayDir: 'answer-faults',
    impl: 'answer-fault:<name>',
    list: () => ANSWER_FAULTS.map((f) => ({ name: f.name, breaks: f.breaks, change: f.change })),
  },
  unseen: {
    rows: 'fault',
    defaultOracle: 'invariants',
    replayDir: 'unseen',
    impl: 'conformance/mutants/unseen/<name>.ts',
    list: () => UNSEEN_FAULTS.map((f) => ({ name: unseenName(f), class: f.class, where: f.where, bug: f.bug, ...(f.closed && { closed: f.closed }), module: unseenPath(f) })),
  },
};

function listText(kind: Kind): string {
  return `${kind.list().map(({ name, ...rest }) => `${name}\n${Object.entries(rest).map(([k, v]) => `  ${k}: ${Array.isArray(v) ? v.join(' ') : String(v)}`).join('\n')}`).join('\n')}\n`;
}

function int(flag: string, v: string | undefined, min: number): number | undefined {
  if (v === undefined) return undefined;
  if (!/^-?\d+$/.test(v) || !Number.isSafeInteger(Number(v)) || Number(v) < min) throw new UsageError(`mutants: ${flag}: expected an integer >= ${min}, got '${v}'`);
  return Number(v);
}

/** `mutants --lies`: the table of detection rates (lies-run.ts). */
async function measureLiesCli(o: MutantsCliOptions, setExit: (code: number) => void): Promise<void> {
  if (o.list) {
    const list = LIES.map((l) => ({ name: l.name, answer: l.answer, change: l.change, held: l.held === true ? 'yes' : `no: ${l.held.why}` }));
    process.stdout.write(o.json ? `${JSON.stringify(list, null, 2)}\n` : listText({ list: () => list } as unknown as Kind));
    setExit(0);
    return;
  }
  if (o.oracle !== undefined && o.oracle !== 'invariants') throw new UsageError(`mutants: --lies measures the invariants alone: --oracle ${o.oracle} is not taken`);
  if (o.jobs !== undefined && o.jobs !== '1') throw new UsageError('mutants: --lies runs on one thread: --jobs is not taken');
  if (o.profile !== undefined && !isProfile(o.profile)) throw new UsageError(`mutants: --profile: unknown profile '${o.profile}' (expected ${PROFILES.join(' or ')})`);
  const only = o.only?.split(',').map((s) => s.trim()).filter(Boolean);
  if (only) {
    const unknown = only.filter((n) => !LIES.some((l) => l.name === n));
    if (unknown.length > 0) throw new UsageError(`mutants: --only: unknown lie ${unknown.join(', ')} (known: ${LIES.map((l) => l.name).join(', ')})`);
  }
  const seed = int('--seed', o.seed, -(2 ** 31));
  const runs = int('--runs', o.runs, 1);
  const maxCommands = int('--max-commands', o.maxCommands, 1);
  const progress = (r: LieRow): void => {
    if (!o.json) process.stderr.write(`${r.name}: told in ${r.told} of ${r.cases} cases, caught ${r.caught}${r.falseAlarms ? `, ${r.falseAlarms} false alarm(s)` : ''}\n`);
  };
  const rows = await runLies({
    ...(only && { only }),
    ...(seed !== undefined && { seed }),
    ...(runs !== undefined && { runs }),
    ...(maxCommands !== undefined && { maxCommands }),
    ...(o.profile !== undefined && { profile: o.profile as Profile }),
    onRow: progress,
  });
  const text = o.json ? `${JSON.stringify({ oracle: 'invariants', rows }, null, 2)}\n` : formatLieTable(rows);
  if (o.out) writeFileSync(o.out, text);
  else process.stdout.write(text);
  setExit(rows.some((r) => r.falseAlarms > 0) ? 1 : 0);
}

export const register: RegisterCommand = (program: Command, setExit) => {
  program
    .command('mutants')
    .description('run the suite against every mutant of the reference (conformance/mutants/) and print which are killed, by what, how fast; and whether the fixed corpus alone kills each')
    .option('--json', 'print the rows as JSON')
    .option('--only <names>', 'only these mutants (comma-separated)')
    .option('--oracle <set>', 'full (differential, lifecycle, invariants) or invariants (default: full; invariants with --answer-faults)')
    .option('--answer-faults', 'run the faults behind the protocol (conformance/mutants/answer-faults.ts: the reference behind a lying adapter) instead of the catalogue')
    .option('--unseen', 'run the red-team faults the suite was not written against (conformance/mutants/unseen.ts) instead of the catalogue')
    .option('--lies', 'measure how often the invariants catch a single lie (conformance/mutants/lies.ts: one answer per case changed) instead of running the catalogue')
    .option('--seed <n>', `base seed (default ${DEFAULTS.seed})`)
    .option('--runs <n>', `cases per mutant at most (default ${DEFAULTS.runs}, run's default budget; ${DEFAULT_LIE_RUNS} per lie with --lies)`)
    .option('--max-commands <n>', `commands per case at most (default ${DEFAULTS.maxCommands})`)
    .option('--profile <profile>', `kernel profile (${PROFILES.join(' or ')})`)
    .option('--no-corpus', 'skip the fixed-corpus column')
    .option('--replay-dir <dir>', 'where each kill’s replay file goes (default ./iommufd-spec-replays/mutants)')
    .option('--shrink-time <ms>', 'stop shrinking a counterexample after this long (default 60000)')
    .option('--jobs <n>', 'spread the faults over n worker threads (default 1; each fault runs as it would alone)')
    .option('--out <file>', 'write the report (table or JSON) there instead of stdout')
    .option('--known-kills <file>', "replay each fault's first failing case recorded in FILE before its whole budget (a fault it no longer kills runs the whole budget)")
    .option('--update-known-kills', "write this run's first failing cases to the --known-kills file")
    .option('--list', 'list the catalogue (name, class, clauses, change, bug class, kernel fix) and exit')
    .action(async (o: MutantsCliOptions) => {
      if ([o.answerFaults, o.unseen, o.lies].filter(Boolean).length > 1) throw new UsageError('mutants: --answer-faults, --unseen and --lies choose different faults: give one');
      if (o.lies && (o.knownKills || o.updateKnownKills)) throw new UsageError('mutants: --known-kills: --lies measures rates over every case, it has no kills to replay');
      if (o.lies) {
        await measureLiesCli(o, setExit);
        return;
      }
      const kindName: FaultKind = o.answerFaults ? 'answer-faults' : o.unseen ? 'unseen' : 'catalogue';
      const kind = KINDS[kindName];
      if (o.list) {
        process.stdout.write(o.json ? `${JSON.stringify(kind.list(), null, 2)}\n` : listText(kind));
        setExit(0);
        return;
      }
      const oracle = o.oracle ?? kind.defaultOracle;
      if (oracle !== 'full' && oracle !== 'invariants') throw new UsageError(`mutants: --oracle: expected full or invariants, got '${oracle}'`);
      if (o.profile !== undefined && !isProfile(o.profile)) throw new UsageError(`mutants: --profile: unknown profile '${o.profile}' (expected ${PROFILES.join(' or ')})`);
      const only = o.only?.split(',').map((s) => s.trim()).filter(Boolean);
      try {
        selectedFaults(kindName, only);
      } catch (err) {
        throw new UsageError(`mutants: --only: ${(err as Error).message}`);
      }
      const seed = int('--seed', o.seed, -(2 ** 31));
      const runs = int('--runs', o.runs, 1);
      const maxCommands = int('--max-commands', o.maxCommands, 1);
      const shrinkTimeMs = int('--shrink-time', o.shrinkTime, 0);
      const jobs = int('--jobs', o.jobs, 1) ?? 1;
      const replayDir = resolve(o.replayDir ?? join('iommufd-spec-replays', kind.replayDir));
      if (o.updateKnownKills && !o.knownKills) throw new UsageError('mutants: --update-known-kills: give the file with --known-kills');
      let knownKills: KnownKills | undefined;
      try {
        knownKills = o.knownKills && existsSync(o.knownKills) ? loadKnownKills(o.knownKills) : undefined;
      } catch (err) {
        if (err instanceof KnownKillsError) throw new UsageError(`mutants: --known-kills: ${err.message}`);
        throw err;
      }
      if (o.knownKills && !knownKills && !o.updateKnownKills) throw new UsageError(`mutants: --known-kills: ${o.knownKills} does not exist (--update-known-kills writes it)`);
      const progress = (r: MutantRow): void => {
        if (!o.json) process.stderr.write(`${r.name}: ${r.verdict}${r.killedBy.length ? ` by ${r.killedBy.join('+')} (${r.properties.join(', ')})` : ''}${r.secondsToKill !== undefined ? ` in ${r.secondsToKill.toFixed(1)} s, shrunk to ${r.shrunkIoctls} ioctl(s) in ${r.shrunkLength} step(s)` : ''}${r.corpus ? `; corpus ${r.corpus.killed ? `kills (${r.corpus.program})` : 'does not kill'}` : ''}\n`);
      };
      const run = jobs > 1 ? (opts: MutantRunOptions) => runFaultsParallel(kindName, opts, jobs) : RUN_KIND[kindName];
      const rows = await run({
        ...(only && { only }),
        oracle,
        ...(seed !== undefined && { seed }),
        ...(runs !== undefined && { runs }),
        ...(maxCommands !== undefined && { maxCommands }),
        ...(o.profile !== undefined && { profile: o.profile as Profile }),
        corpus: o.corpus !== false,
        ...(shrinkTimeMs !== undefined && { shrinkTimeMs }),
        ...(knownKills && { knownKills }),
        onRow: progress,
      });
      if (o.updateKnownKills && o.knownKills) {
        const run = { seed: seed ?? DEFAULTS.seed, runs: runs ?? DEFAULTS.runs, maxCommands: maxCommands ?? DEFAULTS.maxCommands, blockSize: DEFAULTS.blockSize, oracle: oracle as OracleSet };
        // A row that erred (a worker that died, say) says nothing of its fault's kill: its entry stays.
        const ran = rows.filter((r) => r.verdict !== 'error').map((r) => [r.name, r.verdict === 'killed' ? r.killingCase : undefined] as const);
        saveKnownKills(o.knownKills, updatedKnownKills(knownKills, run, new Map(ran)));
      }
      const written: Record<string, string> = {};
      for (const r of rows) {
        if (!r.replay) continue;
        mkdirSync(replayDir, { recursive: true });
        const file = join(replayDir, `${r.name}.json`);
        writeFileSync(file, `${JSON.stringify(r.replay, null, 2)}\n`);
        written[r.name] = file;
      }
      const text = o.json
        ? `${JSON.stringify({ oracle, rows: rows.map(({ replay: _r, ...row }) => ({ ...row, ...(written[row.name] && { replayFile: written[row.name] }) })) }, null, 2)}\n`
        : `${formatMutantTable(rows, oracle, kind.rows)}\n${Object.keys(written).length ? `replay files: ${replayDir}/<${kind.rows}>.json (iommufd-spec replay FILE --impl ${kind.impl})\n` : ''}`;
      if (o.out) writeFileSync(o.out, text);
      else process.stdout.write(text);
      setExit(rows.every((r) => r.verdict === 'killed') ? 0 : 1);
    });
};
