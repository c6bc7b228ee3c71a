/**
 * `iommufd-spec diff PROGRAM… --impl A --impl B [--profile P] [--expectations FILE] [--json]`:
 * runs each program on both implementations and compares them step by step —
 * status, errno, return value and every output field, ids compared
 * symbolically. A difference is accepted where the program's expect set
 * leaves it open and both results fall in it, or an expectations entry covers
 * it (default files: conformance/programs/expectations/<A>.json and <B>.json).
 * Exit 1 on any other difference or a step error, 2 on bad input.
 */
import type { Command } from 'commander';
import type { RegisterCommand } from './register.ts';
import { UsageError } from '../usage.ts';
import { PROFILES } from '../../spec/uapi/profiles.ts';
import { displayPath } from '../../conformance/programs/load.ts';
import { AdapterOpenError, impliedProfile, jsonReplacer, runPrograms, type SessionResult } from '../../conformance/programs/session.ts';
import { diffRuns, unacceptedDifferences, type ProgramDiff } from '../../conformance/programs/diff.ts';
import { judgeRun } from '../../conformance/programs/verdict.ts';
import type { ProgramRun } from '../../conformance/programs/run.ts';
import type { ExpectationEntry } from '../../conformance/programs/expectations.ts';
import { loadEntries, loadOrUsage, parseOrderOption, parseProfile } from './exec.ts';
import './implementations.ts';

interface DiffOptions {
  impl?: string[];
  profile?: string;
  expectations?: string;
  json?: boolean;
  batch?: boolean;
  only?: string;
  order?: string;
}

function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

function printDiff(d: ProgramDiff, a: string, b: string, stepErrors: readonly string[], violations: readonly string[], write: (s: string) => void): void {
  write(`${displayPath(d.file)} (${d.program}): ${a} vs ${b}\n`);
  for (const e of stepErrors) write(`  ERROR ${e}\n`);
  if (d.skipped) {
    write(`  skipped: ${d.skipped}\n`);
    return;
  }
  for (const v of violations) write(`  note: ${v}\n`);
  let same = 0;
  for (const s of d.steps) {
    if (s.skipped) {
      write(`  ${String(s.step).padStart(3)} ${s.op} skipped (${s.skipped})\n`);
      continue;
    }
    if (s.differences.length === 0) {
      same++;
      continue;
    }
    for (const x of s.differences) {
      const tag = x.verdict === 'different' ? 'DIFF' : x.verdict === 'known' ? 'known' : 'allowed';
      write(`  ${String(s.step).padStart(3)} ${(s.command ?? s.op).padEnd(28)} ${tag.padEnd(7)} ${x.field}: ${a}=${x.a} ${b}=${x.b}${x.why ? `  (${x.why})` : ''}\n`);
    }
  }
  write(`  ${same} steps agree\n`);
}

/** Step errors, skips no unsupported entry of that side lists, and stale unsupported entries (verdict.ts). */
function errorsOf(s: SessionResult, run: ProgramRun | undefined, entries: readonly ExpectationEntry[]): string[] {
  if (!run) return [];
  return judgeRun(run, entries)
    .failures.filter((f) => f.kind !== 'violation')
    .map((f) => `${s.implementation}${f.step !== undefined ? ` step ${f.step}` : ''}: ${f.kind === 'error' ? '' : `${f.kind}: `}${f.message}`);
}

export const register: RegisterCommand = (program: Command, setExit) => {
  program
    .command('diff')
    .description('run ioctl programs on two implementations and compare them step by step (ids symbolically)')
    .argument('<program...>', 'program files or directories of them')
    .option('--impl <name>', 'an implementation (give exactly two): ref, stub, linux-6.12, linux-7.3, cmd:<command line>, a module path', collect)
    .option('--profile <profile>', `kernel profile (${PROFILES.join(' or ')}); default: each implementation's`)
    .option('--expectations <file>', 'known divergences (default: the files of both implementations under conformance/programs/expectations/)')
    .option('--json', 'print the comparison as JSON')
    .option('--no-batch', 'send one request at a time')
    .option('--only <text>', 'compare only the programs whose name contains <text>')
    .option('--order <order>', 'program order on both sides: file, reverse, shuffle (a fresh seed, printed) or shuffle:<seed>', 'file')
    .action(async (paths: string[], opts: DiffOptions) => {
      const impls = opts.impl ?? [];
      if (impls.length !== 2) throw new UsageError(`diff: give --impl exactly twice (got ${impls.length})`);
      const [a, b] = impls as [string, string];
      // A kernel lane fixes the profile for both sides.
      const profile = parseProfile('diff', opts.profile) ?? impliedProfile(a) ?? impliedProfile(b);
      const order = parseOrderOption('diff', opts.order);
      const programs = loadOrUsage(paths, opts.only);
      const entriesA = opts.expectations ? loadEntries(opts.expectations, '') : loadEntries(undefined, a);
      const entriesB = opts.expectations ? entriesA : loadEntries(undefined, b);
      const entries = opts.expectations ? entriesA : [...entriesA, ...entriesB];
      let ra: SessionResult;
      let rb: SessionResult;
      try {
        ra = await runPrograms(a, profile, programs, { batch: opts.batch !== false, order });
        rb = await runPrograms(b, profile ?? ra.profile, programs, { batch: opts.batch !== false, order });
      } catch (err) {
        if (err instanceof AdapterOpenError) throw new UsageError(err.message);
        throw err;
      }
      let bad = 0;
      const out: string[] = [];
      const diffs = ra.runs.map((_, i) => {
        const d = diffRuns(ra.runs[i] as never, rb.runs[i] as never, entries);
        const errors = [...errorsOf(ra, ra.runs[i], entriesA), ...errorsOf(rb, rb.runs[i], entriesB)];
        bad += unacceptedDifferences(d).length + errors.length;
        // Violated expect sets are exec's verdict; diff shows them as notes.
        const violations = [ra, rb].flatMap((s, k) => (s.runs[i]?.steps ?? []).flatMap((o) => o.violations.map((v) => `${k === 0 ? a : b} step ${o.step} violates its expect set: ${v}`)));
        printDiff(d, a, b, errors, violations, (s) => out.push(s));
        return { ...d, errors };
      });
      if (opts.json) process.stdout.write(JSON.stringify({ order: ra.order, a: { impl: a, profile: ra.profile }, b: { impl: b, profile: rb.profile }, programs: diffs }, jsonReplacer, 1) + '\n');
      else process.stdout.write(`order: ${ra.order}\n` + out.join('') + `${programs.length} programs, ${a} [${ra.profile}] vs ${b} [${rb.profile}], order ${ra.order}: ${bad} unaccepted differences or errors\n`);
      setExit(bad > 0 ? 1 : 0);
    });
};
