/**
 * `iommufd-spec exec PROGRAM… --impl <name> [--profile P] [--json] [--expectations FILE]`:
 * runs ioctl programs (conformance/programs/FORMAT.md) on an implementation,
 * prints each step's result and checks its expect set. Exit 1 on a violated
 * expectation (not covered by the expectations file) or a step error; 2 on a
 * bad program (naming file, step and field), bad options, or an
 * implementation that could not be started. Skipped steps never fail.
 */
import type { Command } from 'commander';
import type { RegisterCommand } from './index.ts';
import { UsageError } from '../usage.ts';
import { isProfile, PROFILES, type Profile } from '../../spec/uapi/profiles.ts';
import { displayPath, loadPrograms, ProgramError } from '../../conformance/programs/load.ts';
import { AdapterOpenError, jsonReplacer, runPrograms } from '../../conformance/programs/session.ts';
import { describeStatus, type ProgramRun, type StepOutcome } from '../../conformance/programs/run.ts';
import { render } from '../../conformance/programs/expect.ts';
import { errnoName } from '../../conformance/programs/errno.ts';
import {
  defaultExpectationsFile,
  ExpectationsError,
  findExpectation,
  loadExpectationsFile,
  type ExpectationEntry,
} from '../../conformance/programs/expectations.ts';
import type { LoadedProgram } from '../../conformance/programs/types.ts';
import { MachinesCheck } from './machines-check.ts';
import { writeReplay } from '../../model/replay.ts';

interface ExecOptions {
  impl?: string;
  profile?: string;
  json?: boolean;
  expectations?: string;
  batch?: boolean;
  only?: string;
  machines?: boolean;
  record?: string;
}

export function parseProfile(cmd: string, p: string | undefined): Profile | undefined {
  if (p !== undefined && !isProfile(p)) throw new UsageError(`${cmd}: --profile: unknown profile '${p}' (expected ${PROFILES.join(' or ')})`);
  return p;
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

/** Prints one run; counts failures not covered by `entries`. */
export function printRun(run: ProgramRun, entries: readonly ExpectationEntry[], write: (s: string) => void): ExecVerdict {
  write(`${displayPath(run.file)} (${run.program.name}) on ${run.implementation} [${run.profile}]\n`);
  if (run.skipped) {
    write(`  skipped: ${run.skipped}\n`);
    return { failures: 0, known: 0 };
  }
  let failures = 0;
  let known = 0;
  for (const o of run.steps) {
    const written = o.status === 'ok' || o.status === 'failed' ? writtenFields(o) : '';
    write(`  ${String(o.step).padStart(3)} ${stepLabel(o).padEnd(40)} ${describeStatus(o)}${written ? `  ${written}` : ''}\n`);
    if (o.status === 'error') failures++;
    for (const v of o.violations) {
      const observed = o.status === 'ok' ? 'ok' : errnoName(o.errno ?? 0);
      // What the program allowed, as printed: errno names, or 'ok'.
      const want = run.program.steps[o.step - 1]?.expect;
      const allowed = [...(want?.errno ?? []), ...(want?.ok ? ['ok'] : [])];
      const entry = findExpectation(entries, { program: run.program.name, step: o.step, field: 'expect', values: [observed, ...allowed] });
      if (entry) {
        known++;
        write(`      known (${entry.kind}): ${v} — ${entry.reason}\n`);
      } else {
        failures++;
        write(`      VIOLATED: ${v}\n`);
      }
    }
  }
  const count = (s: string): number => run.steps.filter((o) => o.status === s).length;
  write(`  ${run.steps.length} steps: ${count('ok')} ok, ${count('failed')} errno, ${count('skipped')} skipped, ${count('error')} errors; ${failures} failures${known ? `, ${known} known` : ''}\n`);
  return { failures, known };
}

export const register: RegisterCommand = (program: Command, setExit) => {
  program
    .command('exec')
    .description('run ioctl programs on an implementation, print each step and check its expect set (conformance/programs/FORMAT.md)')
    .argument('<program...>', 'program files or directories of them')
    .option('--impl <name>', 'implementation: ref, stub, linux-6.12, linux-7.3, cmd:<command line>, or a module path', 'ref')
    .option('--profile <profile>', `kernel profile (${PROFILES.join(' or ')}); default: the implementation's`)
    .option('--json', 'print the runs as JSON')
    .option('--expectations <file>', 'known divergences (default: conformance/programs/expectations/<impl>.json if it exists)')
    .option('--no-batch', 'send one request at a time')
    .option('--only <text>', 'run only the programs whose name contains <text>')
    .option('--machines', 'also check every step against the lifecycle machines (model/): first disagreement per program, refusals left open per command')
    .option('--record <file>', 'with --machines: write every executed step and its answer (gzipped JSON lines) for replay tests (model/replay.ts)')
    .action(async (paths: string[], opts: ExecOptions) => {
      const profile = parseProfile('exec', opts.profile);
      const programs = loadOrUsage(paths, opts.only);
      const impl = opts.impl ?? 'ref';
      const entries = loadEntries(opts.expectations, impl);
      if (opts.record && !opts.machines) throw new UsageError('exec: --record needs --machines');
      const machines = opts.machines ? new MachinesCheck(profile, entries, opts.record !== undefined) : undefined;
      let session;
      try {
        session = await runPrograms(impl, profile, programs, { batch: opts.batch !== false, ...(machines ? { onStep: machines.observe } : {}) });
      } catch (err) {
        if (err instanceof AdapterOpenError) throw new UsageError(err.message);
        throw err;
      }
      let failures = 0;
      const sink: string[] = [];
      for (const run of session.runs) failures += printRun(run, entries, (s) => sink.push(s)).failures;
      if (machines) failures += machines.failures;
      if (machines?.recorded && opts.record) writeReplay(opts.record, machines.recorded);
      if (opts.json) process.stdout.write(JSON.stringify(machines ? { ...session, machines: machines.toJSON() } : session, jsonReplacer, 1) + '\n');
      else process.stdout.write(sink.join('') + (machines ? machines.render() : '') + `${session.runs.length} programs on ${impl} [${session.profile}]: ${failures} failures\n`);
      setExit(failures > 0 ? 1 : 0);
    });
};
