/**
 * `iommufd-spec mutants [--json] [--only NAME[,NAME…]] [--oracle full|invariants]
 *   [--seed N] [--runs N] [--max-commands N] [--profile P] [--no-corpus] [--replay-dir DIR] [--list]
 *   [--answer-faults]`
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
 * with --oracle invariants unless told otherwise.
 *
 * Importing this module registers `mutant:<name>` and `answer-fault:<name>`
 * with the adapter registry, so every command (run, replay, exec, diff) takes
 * `--impl mutant:<name>` or `--impl answer-fault:<name>`.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import type { RegisterCommand } from './register.ts';
import { UsageError } from '../usage.ts';
import { isProfile, PROFILES, type Profile } from '../../spec/uapi/profiles.ts';
import { DEFAULTS } from '../../conformance/suite/runner.ts';
import { MUTANTS } from '../../conformance/mutants/catalogue.ts';
import { formatMutantTable, runAnswerFaults, runMutants, selectAnswerFaults, selectMutants, type MutantRow } from '../../conformance/mutants/run.ts';
import { ANSWER_FAULTS } from '../../conformance/mutants/answer-faults.ts';
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
}

function int(flag: string, v: string | undefined, min: number): number | undefined {
  if (v === undefined) return undefined;
  if (!/^-?\d+$/.test(v) || !Number.isSafeInteger(Number(v)) || Number(v) < min) throw new UsageError(`mutants: ${flag}: expected an integer >= ${min}, got '${v}'`);
  return Number(v);
}

export const register: RegisterCommand = (program: Command, setExit) => {
  program
    .command('mutants')
    .description('run the suite against every mutant of the reference (conformance/mutants/) and print which are killed, by what, how fast; and whether the fixed corpus alone kills each')
    .option('--json', 'print the rows as JSON')
    .option('--only <names>', 'only these mutants (comma-separated)')
    .option('--oracle <set>', 'full (differential, lifecycle, invariants) or invariants (default: full; invariants with --answer-faults)')
    .option('--answer-faults', 'run the faults behind the protocol (conformance/mutants/answer-faults.ts: the reference behind a lying adapter) instead of the catalogue')
    .option('--seed <n>', `base seed (default ${DEFAULTS.seed})`)
    .option('--runs <n>', `cases per mutant at most (default ${DEFAULTS.runs}, run's default budget)`)
    .option('--max-commands <n>', `commands per case at most (default ${DEFAULTS.maxCommands})`)
    .option('--profile <profile>', `kernel profile (${PROFILES.join(' or ')})`)
    .option('--no-corpus', 'skip the fixed-corpus column')
    .option('--replay-dir <dir>', 'where each kill’s replay file goes (default ./iommufd-spec-replays/mutants)')
    .option('--shrink-time <ms>', 'stop shrinking a counterexample after this long (default 60000)')
    .option('--out <file>', 'write the report (table or JSON) there instead of stdout')
    .option('--list', 'list the catalogue (name, class, clauses, change, bug class, kernel fix) and exit')
    .action(async (o: MutantsCliOptions) => {
      if (o.list && o.answerFaults) {
        const rows = ANSWER_FAULTS.map((f) => ({ name: f.name, breaks: f.breaks, change: f.change }));
        process.stdout.write(o.json ? `${JSON.stringify(rows, null, 2)}\n` : `${rows.map((r) => `${r.name} [${r.breaks}]\n  ${r.change}`).join('\n')}\n`);
        setExit(0);
        return;
      }
      if (o.list) {
        const rows = MUTANTS.map((m) => ({ name: m.name, class: m.class, security: m.security, clauses: m.clauses, invariant: m.invariant, change: m.change, bugClass: m.bugClass, ...(m.kernelFix && { kernelFix: m.kernelFix }) }));
        process.stdout.write(o.json ? `${JSON.stringify(rows, null, 2)}\n` : `${rows.map((r) => `${r.name} [${r.class}${r.security ? ', security' : ''}] ${r.clauses.join(' ')}\n  ${r.change}\n  class: ${r.bugClass}${r.kernelFix ? `\n  fix: ${r.kernelFix}` : ''}`).join('\n')}\n`);
        setExit(0);
        return;
      }
      const oracle = o.oracle ?? (o.answerFaults ? 'invariants' : 'full');
      if (oracle !== 'full' && oracle !== 'invariants') throw new UsageError(`mutants: --oracle: expected full or invariants, got '${oracle}'`);
      if (o.profile !== undefined && !isProfile(o.profile)) throw new UsageError(`mutants: --profile: unknown profile '${o.profile}' (expected ${PROFILES.join(' or ')})`);
      const only = o.only?.split(',').map((s) => s.trim()).filter(Boolean);
      try {
        if (o.answerFaults) selectAnswerFaults(only);
        else selectMutants(only);
      } catch (err) {
        throw new UsageError(`mutants: --only: ${(err as Error).message}`);
      }
      const seed = int('--seed', o.seed, -(2 ** 31));
      const runs = int('--runs', o.runs, 1);
      const maxCommands = int('--max-commands', o.maxCommands, 1);
      const shrinkTimeMs = int('--shrink-time', o.shrinkTime, 0);
      const replayDir = resolve(o.replayDir ?? join('iommufd-spec-replays', o.answerFaults ? 'answer-faults' : 'mutants'));
      const progress = (r: MutantRow): void => {
        if (!o.json) process.stderr.write(`${r.name}: ${r.verdict}${r.killedBy.length ? ` by ${r.killedBy.join('+')} (${r.properties.join(', ')})` : ''}${r.secondsToKill !== undefined ? ` in ${r.secondsToKill.toFixed(1)} s, shrunk to ${r.shrunkIoctls} ioctl(s) in ${r.shrunkLength} step(s)` : ''}${r.corpus ? `; corpus ${r.corpus.killed ? `kills (${r.corpus.program})` : 'does not kill'}` : ''}\n`);
      };
      const rows = await (o.answerFaults ? runAnswerFaults : runMutants)({
        ...(only && { only }),
        oracle,
        ...(seed !== undefined && { seed }),
        ...(runs !== undefined && { runs }),
        ...(maxCommands !== undefined && { maxCommands }),
        ...(o.profile !== undefined && { profile: o.profile as Profile }),
        corpus: o.corpus !== false,
        ...(shrinkTimeMs !== undefined && { shrinkTimeMs }),
        onRow: progress,
      });
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
        : `${formatMutantTable(rows, oracle, o.answerFaults ? 'fault' : 'mutant')}\n${Object.keys(written).length ? `replay files: ${replayDir}/<${o.answerFaults ? 'fault' : 'mutant'}>.json (iommufd-spec replay FILE --impl ${o.answerFaults ? 'answer-fault' : 'mutant'}:<name>)\n` : ''}`;
      if (o.out) writeFileSync(o.out, text);
      else process.stdout.write(text);
      setExit(rows.every((r) => r.verdict === 'killed') ? 0 : 1);
    });
};
