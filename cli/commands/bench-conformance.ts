/**
 * `iommufd-spec bench conformance [--json] [--rounds N] [--cases N] [--profile P] [--mode M...] [--no-stdio]`:
 * checked commands per second of the random suite against the reference,
 * in-process and over stdio, bare (no oracle), with the invariants and with
 * every oracle; the slowdown over bare and each oracle's share of the time.
 * Medians of several rounds after untimed warm-up rounds. Targets (in-process, one thread): 50 000
 * checked commands/s with --oracle invariants, 10 000 with full — reported,
 * not asserted.
 */
import { availableParallelism, loadavg } from 'node:os';
import type { Command } from 'commander';
import { UsageError } from '../usage.ts';
import { isProfile, type Profile } from '../../spec/uapi/profiles.ts';
import { BENCH_MODES, benchConformance, DEFAULT_CASES, type BenchFigure, type BenchMode } from '../../conformance/suite/bench.ts';

const TARGETS: Record<string, number> = { invariants: 50_000, full: 10_000 };

function table(rows: readonly BenchFigure[]): string {
  const pct = (v: number): string => `${(v * 100).toFixed(0)}%`;
  const lines = ['transport   mode         commands/s   per CPU s   slowdown   gen   impl   oracle shares                                    target'];
  for (const r of rows) {
    const shares = Object.entries(r.shares).map(([k, v]) => `${k} ${pct(v)}`).join(', ');
    const target = r.transport === 'in-process' && TARGETS[r.mode] ? `${TARGETS[r.mode]} (${r.commandsPerSecond >= (TARGETS[r.mode] as number) ? 'met' : 'missed'})` : '';
    lines.push(
      `${r.transport.padEnd(11)} ${r.mode.padEnd(12)} ${String(r.commandsPerSecond).padStart(10)}   ${String(r.commandsPerCpuSecond).padStart(9)}   ${(r.slowdown === null ? '-' : `×${r.slowdown}`).padEnd(8)}   ${pct(r.split.generation).padStart(3)}   ${pct(r.split.implementation).padStart(4)}   ${shares.padEnd(48)} ${target}`,
    );
  }
  lines.push('gen: fast-check generating the cases; impl: inside the implementation for steps and resets (probes count as their oracle); the rest is the suite itself');
  const [load1] = loadavg();
  lines.push(`load average ${load1?.toFixed(2)} on ${availableParallelism()} CPUs: wall figures shrink on shared cores, per-CPU-second ones much less`);
  return `${lines.join('\n')}\n`;
}

export function conformanceBenchSuite(bench: Command, setExit: (code: number) => void): void {
  bench
    .command('conformance')
    .description('checked commands per second of the random suite against the reference (in-process and stdio, per oracle set)')
    .option('--json', 'print the figures as JSON')
    .option('--rounds <n>', 'timed rounds per figure (median)', '5')
    .option('--warmup <n>', 'untimed rounds first, per transport and mode (JIT warm-up)', '3')
    .option('--cases <n>', 'cases per round', String(DEFAULT_CASES))
    .option('--max-commands <n>', 'commands per case at most', '60')
    .option('--profile <profile>', 'kernel profile (6.12 or 7.3)', '7.3')
    .option('--mode <modes...>', 'measure only these modes (bare, invariants, full); slowdowns need bare')
    .option('--no-stdio', 'skip the stdio transport')
    .action(async (o: { json?: boolean; rounds: string; warmup: string; cases: string; maxCommands: string; profile: string; mode?: string[]; stdio: boolean }) => {
      const n = (flag: string, v: string, min: number): number => {
        const x = Number(v);
        if (!Number.isInteger(x) || x < min) throw new UsageError(`bench conformance: ${flag}: expected an integer >= ${min}, got '${v}'`);
        return x;
      };
      const modes = o.mode ?? ['bare', 'invariants', 'full'];
      const badMode = modes.find((m) => !(BENCH_MODES as readonly string[]).includes(m));
      if (badMode !== undefined) throw new UsageError(`bench conformance: --mode: unknown mode '${badMode}' (bare, invariants or full)`);
      if (!isProfile(o.profile)) throw new UsageError(`bench conformance: --profile: unknown profile '${o.profile}'`);
      const rows = await benchConformance({
        profile: o.profile as Profile,
        rounds: n('--rounds', o.rounds, 1),
        warmup: n('--warmup', o.warmup, 0),
        cases: n('--cases', o.cases, 1),
        maxCommands: n('--max-commands', o.maxCommands, 1),
        stdio: o.stdio === false ? false : undefined,
        modes: modes as BenchMode[],
        log: (l) => process.stderr.write(`${l}\n`),
      });
      process.stdout.write(o.json ? `${JSON.stringify(rows, null, 2)}\n` : table(rows));
      setExit(0);
    });
}
