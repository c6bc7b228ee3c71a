/**
 * `iommufd-spec exec PROGRAM… --impl <name> [--profile P] [--json] [--expectations FILE] [--order O]`:
 * runs ioctl programs (conformance/programs/FORMAT.md) on an implementation,
 * prints each step's result and checks its expect set. Exit 1 on a failure
 * (conformance/programs/verdict.ts: a violated expectation, a step error, a
 * skip no `unsupported` entry lists, or a listed skip that now runs); 2 on a
 * bad program (naming file, step and field), bad options, or an
 * implementation that could not be started.
 * `--update-expectations` rewrites the implementation's `unsupported` entries
 * from what the run skipped.
 */
import { writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import type { RegisterCommand } from './register.ts';
import { UsageError } from '../usage.ts';
import { isProfile, PROFILES, type Profile } from '../../spec/uapi/profiles.ts';
import { displayPath, loadPrograms, ProgramError } from '../../conformance/programs/load.ts';
import { AdapterOpenError, jsonReplacer, OrderError, parseOrder, runPrograms, type ProgramOrder, type SessionResult } from '../../conformance/programs/session.ts';
import { describeStatus, type ProgramRun, type StepOutcome } from '../../conformance/programs/run.ts';
import { render } from '../../conformance/programs/expect.ts';
import { errnoName } from '../../conformance/programs/errno.ts';
import { judgeRun, type Finding, type FindingKind } from '../../conformance/programs/verdict.ts';
import { formatExpectations, updateUnsupported, UpdateError } from '../../conformance/programs/update-expectations.ts';
import {
  defaultExpectationsFile,
  EXPECTATIONS_DIR,
  ExpectationsError,
  loadExpectationsFile,
  type ExpectationEntry,
  type ExpectationsFile,
} from '../../conformance/programs/expectations.ts';
import type { LoadedProgram } from '../../conformance/programs/types.ts';
import { MachinesCheck } from './machines-check.ts';
import { writeReplay } from '../../model/replay.ts';
import './implementations.ts';

interface ExecOptions {
  impl?: string;
  profile?: string;
  json?: boolean;
  expectations?: string;
  batch?: boolean;
  only?: string;
  machines?: boolean;
  record?: string;
  order?: string;
  updateExpectations?: boolean;
}

export function parseProfile(cmd: string, p: string | undefined): Profile | undefined {
  if (p !== undefined && !isProfile(p)) throw new UsageError(`${cmd}: --profile: unknown profile '${p}' (expected ${PROFILES.join(' or ')})`);
  return p;
}

/** `--order file|reverse|shuffle[:seed]`; a bad one is a usage error. */
export function parseOrderOption(cmd: string, text: string | undefined): ProgramOrder {
  try {
    return parseOrder(text ?? 'file');
  } catch (err) {
    if (err instanceof OrderError) throw new UsageError(`${cmd}: ${err.message}`);
    throw err;
  }
}

/** Loads programs (those whose name contains `only`, if given); a bad one is
 * a usage error naming file, step and field. */
export function loadOrUsage(paths: readonly string[], only?: string): LoadedProgram[] {
  if (paths.length === 0) throw new UsageError('no PROGRAM given');
  try {
    const all = loadPrograms(paths);
    if (only === undefined) return all;
    const picked = all.filter((p) => p.program.name.includes(only));
    if (picked.length === 0) throw new UsageError(`--only ${only}: no program name contains it`);
    return picked;
  } catch (err) {
    if (err instanceof ProgramError) throw new UsageError(err.message);
    throw err;
  }
}

export function loadEntries(file: string | undefined, impl: string): ExpectationEntry[] {
  const path = file ?? defaultExpectationsFile(impl);
  if (!path) return [];
  try {
    return [...loadExpectationsFile(path).entries];
  } catch (err) {
    if (err instanceof ExpectationsError) throw new UsageError(err.message);
    throw err;
  }
}

/** Output fields the implementation wrote: leaves that differ from what was sent. */
function writtenFields(o: StepOutcome): string {
  if (o.op === 'close' || o.op === 'open' || o.op === 'write') return '';
  if (o.op !== 'ioctl') return o.result === undefined ? '' : render(o.result).slice(0, 200);
  if (o.out === undefined && o.buffers === undefined) return '';
  const sent = o.request?.op === 'ioctl' && o.request.arg.kind === 'struct' ? o.request.arg.fields : {};
  const parts: string[] = [];
  const walk = (out: unknown, inp: unknown, path: string): void => {
    if (typeof out === 'object' && out !== null && !(out instanceof Uint8Array)) {
      for (const [k, v] of Object.entries(out)) walk(v, (inp as Record<string, unknown> | undefined)?.[k], path ? `${path}.${k}` : k);
      return;
    }
    const a = typeof out === 'number' ? BigInt(out) : out;
    const b = typeof inp === 'number' ? BigInt(inp) : inp === undefined ? 0n : inp;
    if (a !== b && path !== 'size' && path !== 'argsz') parts.push(`${path}=${render(out)}`);
  };
  walk(o.out, sent, '');
  for (const [k, v] of Object.entries(o.buffers ?? {})) parts.push(`*${k}=${render(v).slice(0, 80)}`);
  return parts.join(' ');
}

function stepLabel(o: StepOutcome): string {
  if (o.op !== 'ioctl') return o.op;
  return o.testOp ? `ioctl ${o.command} ${o.testOp.replace('IOMMU_TEST_OP_', '')}` : `ioctl ${o.command}`;
}

export interface ExecVerdict {
  readonly failures: number;
  readonly known: number;
}

const FAILURE_LABEL: Record<FindingKind, string> = {
  violation: 'VIOLATED',
  error: 'ERROR',
  'unlisted-skip': 'UNLISTED SKIP',
  'stale-entry': 'STALE ENTRY',
};

function knownLine(f: Finding): string {
  return f.kind === 'unlisted-skip' ? `listed unsupported: ${f.entry?.reason ?? ''}` : `known (${f.entry?.kind ?? ''}): ${f.message} — ${f.entry?.reason ?? ''}`;
}

/** Prints one run and its verdict (verdict.ts); counts failures not covered by `entries`. */
export function printRun(run: ProgramRun, entries: readonly ExpectationEntry[], write: (s: string) => void): ExecVerdict {
  write(`${displayPath(run.file)} (${run.program.name}) on ${run.implementation} [${run.profile}]\n`);
  const verdict = judgeRun(run, entries);
  const findingsAt = (step: number | undefined): Finding[] => [...verdict.failures, ...verdict.known].filter((f) => f.step === step);
  const printFindings = (step: number | undefined): void => {
    for (const f of findingsAt(step)) {
      if (verdict.failures.includes(f)) write(`      ${FAILURE_LABEL[f.kind]}: ${f.message}\n`);
      else write(`      ${knownLine(f)}\n`);
    }
  };
  if (run.skipped) {
    write(`  skipped: ${run.skipped}\n`);
    printFindings(undefined);
    return { failures: verdict.failures.length, known: verdict.known.length };
  }
  printFindings(undefined);
  for (const o of run.steps) {
    const written = o.status === 'ok' || o.status === 'failed' ? writtenFields(o) : '';
    write(`  ${String(o.step).padStart(3)} ${stepLabel(o).padEnd(40)} ${describeStatus(o)}${written ? `  ${written}` : ''}\n`);
    printFindings(o.step);
  }
  const count = (s: string): number => run.steps.filter((o) => o.status === s).length;
  const failures = verdict.failures.length;
  const known = verdict.known.length;
  write(`  ${run.steps.length} steps: ${count('ok')} ok, ${count('failed')} errno, ${count('skipped')} skipped, ${count('error')} errors; ${failures} failures${known ? `, ${known} known` : ''}\n`);
  return { failures, known };
}

/** One step of the JSON report: its result, not its request or output body. */
function stepJson(o: StepOutcome): Record<string, unknown> {
  return {
    step: o.step,
    op: o.op === 'ioctl' ? stepLabel(o) : o.op,
    status: o.status,
    ...(o.ret !== undefined && { ret: o.ret }),
    ...(o.status === 'failed' && { errno: errnoName(o.errno ?? 0) }),
    ...(o.reason !== undefined && { reason: o.reason }),
  };
}

function findingJson(f: Finding, known: boolean): Record<string, unknown> {
  return { ...(f.step !== undefined && { step: f.step }), kind: f.kind, known, message: f.message, ...(f.entry && { entry: f.entry.reason }) };
}

/**
 * The JSON report: a summary, then per program its steps' results and the
 * verdict's findings — no request or result bodies (use the text output, or
 * `diff --json`, for those).
 */
export function execReport(session: SessionResult, entries: readonly ExpectationEntry[]): Record<string, unknown> {
  const steps = { ok: 0, errno: 0, skipped: 0, error: 0 };
  const byKind: Record<FindingKind, number> = { violation: 0, error: 0, 'unlisted-skip': 0, 'stale-entry': 0 };
  const skippedPrograms = { profile: 0, unsupported: 0 };
  let failures = 0;
  let known = 0;
  let listed = 0;
  const programs = session.runs.map((run) => {
    const v = judgeRun(run, entries);
    failures += v.failures.length;
    known += v.known.length;
    listed += v.known.filter((f) => f.kind === 'unlisted-skip').length;
    for (const f of v.failures) byKind[f.kind]++;
    if (run.skipKind) skippedPrograms[run.skipKind]++;
    for (const o of run.steps) steps[o.status === 'failed' ? 'errno' : o.status]++;
    return {
      name: run.program.name,
      file: displayPath(run.file),
      ...(run.skipped !== undefined && { skipped: run.skipped, skipKind: run.skipKind }),
      failures: v.failures.length,
      steps: run.steps.map(stepJson),
      // Listed skips are counted in the summary and show as skipped steps with their reason; known violations are findings.
      findings: [...v.failures.map((f) => findingJson(f, false)), ...v.known.filter((f) => f.kind !== 'unlisted-skip').map((f) => findingJson(f, true))],
    };
  });
  return {
    format: 'iommufd-exec/1',
    implementation: session.implementation,
    profile: session.profile,
    order: session.order,
    isolation: session.isolation,
    summary: {
      programs: session.runs.length,
      listedSkips: listed,
      ran: session.runs.filter((r) => !r.skipped).length,
      skippedPrograms,
      steps,
      failures,
      known,
      failuresByKind: byKind,
    },
    programs,
  };
}

/** Where `--update-expectations` writes: --expectations FILE, or expectations/<impl>.json. */
function expectationsTarget(file: string | undefined, impl: string): string {
  if (file) return file;
  if (!/^[A-Za-z0-9._-]+$/.test(impl)) throw new UsageError(`exec: --update-expectations for --impl ${impl} needs --expectations FILE`);
  return defaultExpectationsFile(impl) ?? `${EXPECTATIONS_DIR}/${impl}.json`;
}

function updateExpectationsFile(target: string, impl: string, session: SessionResult): string {
  let current: ExpectationsFile = { implementation: impl, entries: [] };
  try {
    current = loadExpectationsFile(target);
  } catch (err) {
    if (!(err instanceof ExpectationsError) || !/cannot read/.test(err.message)) throw err instanceof ExpectationsError ? new UsageError(err.message) : err;
  }
  try {
    const r = updateUnsupported(current, session.runs, { requireRoadmap: current.implementation === 'ref' });
    writeFileSync(target, formatExpectations(r.file));
    return `updated ${displayPath(target)} for profile ${session.profile}: ${r.before} unsupported entries before, ${r.after} now\n`;
  } catch (err) {
    if (err instanceof UpdateError) throw new UsageError(`exec: --update-expectations: ${err.message}`);
    throw err;
  }
}

export const register: RegisterCommand = (program: Command, setExit) => {
  program
    .command('exec')
    .description('run ioctl programs on an implementation, print each step and check its expect set (conformance/programs/FORMAT.md)')
    .argument('<program...>', 'program files or directories of them')
    .option('--impl <name>', 'implementation: ref, stub, linux-6.12, linux-7.3, cmd:<command line>, or a module path', 'ref')
    .option('--profile <profile>', `kernel profile (${PROFILES.join(' or ')}); default: the implementation's`)
    .option('--json', 'print a summary and each step\'s result as JSON')
    .option('--expectations <file>', 'known divergences and unsupported steps (default: conformance/programs/expectations/<impl>.json if it exists)')
    .option('--no-batch', 'send one request at a time')
    .option('--only <text>', 'run only the programs whose name contains <text>')
    .option('--order <order>', 'program order: file, reverse, shuffle (a fresh seed, printed) or shuffle:<seed>', 'file')
    .option('--update-expectations', 'rewrite the unsupported entries of the expectations file from what this run skipped')
    .option('--machines', 'also check every step against the lifecycle machines (model/): first disagreement per program, refusals left open per command')
    .option('--record <file>', 'with --machines: write every executed step and its answer (gzipped JSON lines) for replay tests (model/replay.ts)')
    .action(async (paths: string[], opts: ExecOptions) => {
      const profile = parseProfile('exec', opts.profile);
      const order = parseOrderOption('exec', opts.order);
      const programs = loadOrUsage(paths, opts.only);
      const impl = opts.impl ?? 'ref';
      if (opts.record && !opts.machines) throw new UsageError('exec: --record needs --machines');
      // The machines' known disagreements (field 'machines') are read before the run: --update-expectations rewrites only unsupported entries.
      const machines = opts.machines ? new MachinesCheck(profile, loadEntries(opts.expectations, impl), opts.record !== undefined) : undefined;
      let session;
      try {
        session = await runPrograms(impl, profile, programs, { batch: opts.batch !== false, order, ...(machines ? { onStep: machines.observe } : {}) });
      } catch (err) {
        if (err instanceof AdapterOpenError) throw new UsageError(err.message);
        throw err;
      }
      const notes: string[] = [];
      if (opts.updateExpectations) notes.push(updateExpectationsFile(expectationsTarget(opts.expectations, impl), impl, session));
      const entries = loadEntries(opts.expectations, impl);
      if (machines?.recorded && opts.record) writeReplay(opts.record, machines.recorded);
      if (opts.json) {
        const report = execReport(session, entries);
        const failed = (report['summary'] as { failures: number }).failures + (machines?.failures ?? 0);
        process.stdout.write(`${JSON.stringify(machines ? { ...report, machines: machines.toJSON() } : report, jsonReplacer)}\n`);
        process.stderr.write(notes.join(''));
        setExit(failed > 0 ? 1 : 0);
        return;
      }
      let failures = 0;
      const sink: string[] = [`order: ${session.order}\n`];
      for (const run of session.runs) failures += printRun(run, entries, (s) => sink.push(s)).failures;
      if (machines) failures += machines.failures;
      process.stdout.write(sink.join('') + notes.join('') + (machines ? machines.render() : '') + `${session.runs.length} programs on ${impl} [${session.profile}], order ${session.order}: ${failures} failures\n`);
      setExit(failures > 0 ? 1 : 0);
    });
};
