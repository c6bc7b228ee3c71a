/**
 * `iommufd-spec bench <suite>`: performance benchmarks. Each suite is a
 * subcommand registered from BENCH_SUITES below, so others (e.g. `bench adapter`)
 * can be added as one more entry without touching the rest.
 *   bench pagetable [--json] [--rounds N] [--format F...]
 *   bench adapter --impl <spec> [--profile P] [--json] [--rounds N]
 */
import type { Command } from 'commander';
import type { RegisterCommand } from './register.ts';
import { UsageError } from '../usage.ts';
import { BENCH_FORMATS } from '../../impl/pagetable/format.ts';
import { MUST, runPagetableBench, type BenchRow } from '../../impl/iommu/bench.ts';
import { adapterBenchSuite } from './bench-adapter.ts';
import { runMachinesBench } from '../../model/bench.ts';
import { conformanceBenchSuite } from './bench-conformance.ts';
import './implementations.ts';

type SetExit = (code: number) => void;

/** One benchmark suite: adds its own subcommand under `bench`. */
export type BenchSuite = (bench: Command, setExit: SetExit) => void;

function parseRounds(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 5 || n > 1000) throw new UsageError(`--rounds: expected an integer >= 5, got '${v}'`);
  return n;
}

const pagetableSuite: BenchSuite = (bench, setExit) => {
  bench
    .command('pagetable')
    .description('IO page-table core workloads B1-B10 for vtd-ss, amd-v1, arm-s1-4k, arm-s1-64k')
    .option('--json', 'print an array of { format, id, value, unit, baseline_ratio }')
    .option('--rounds <n>', 'timed rounds per figure (median; at least 5)', '5')
    .option('--format <name...>', `formats to run (${Object.keys(BENCH_FORMATS).join(', ')})`)
    .action((opts: { json?: boolean; rounds: string; format?: string[] }) => {
      const rounds = parseRounds(opts.rounds);
      const formats = opts.format ?? Object.keys(BENCH_FORMATS);
      for (const f of formats) {
        if (!(f in BENCH_FORMATS)) throw new UsageError(`--format: unknown format '${f}' (expected one of ${Object.keys(BENCH_FORMATS).join(', ')})`);
      }
      const rows = runPagetableBench({ rounds, formats, log: (l) => process.stderr.write(`${l}\n`) });
      if (opts.json) process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
      else process.stdout.write(formatTable(rows));
      const failed = rows.filter((r) => MUST[r.id] !== undefined && !(MUST[r.id] as (v: number) => boolean)(r.value));
      for (const r of failed) process.stderr.write(`must target missed: ${r.format} ${r.id} = ${r.value} ${r.unit}\n`);
      setExit(failed.length > 0 ? 1 : 0);
    });
};

function formatTable(rows: BenchRow[]): string {
  const lines = ['format      id                               value        unit    ratio'];
  for (const r of rows) {
    lines.push(
      `${r.format.padEnd(11)} ${r.id.padEnd(32)} ${String(r.value).padStart(12)} ${r.unit.padEnd(7)} ${r.baseline_ratio === null ? '-' : r.baseline_ratio}`,
    );
  }
  return `${lines.join('\n')}\n`;
}

const machinesSuite: BenchSuite = (bench, setExit) => {
  bench
    .command('machines')
    .description('lifecycle oracle: checked steps/s over the recorded kernel corpus answers (CPU time, median of rounds)')
    .option('--json', 'print an array of { id, value, unit }')
    .option('--rounds <n>', 'timed rounds (median; at least 5)', '10')
    .action((opts: { json?: boolean; rounds: string }) => {
      const rows = runMachinesBench({ rounds: parseRounds(opts.rounds) });
      if (opts.json) process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
      else for (const r of rows) process.stdout.write(`${r.id.padEnd(24)} ${String(r.value).padStart(10)} ${r.unit}\n`);
      setExit(0);
    });
};

/** Registered suites; add further `bench <name>` subcommands here. */
export const BENCH_SUITES: BenchSuite[] = [pagetableSuite, adapterBenchSuite, conformanceBenchSuite, machinesSuite];

export const register: RegisterCommand = (program, setExit) => {
  const bench = program.command('bench').description('run performance benchmarks');
  for (const suite of BENCH_SUITES) suite(bench, setExit);
};
