/**
 * `iommufd-spec coverage --machines [--impl …]… [--profile P]… [--json] [PROGRAM…]`:
 * per lifecycle machine, its states and transitions (edges: source, event,
 * guard, target) and which of them the corpus reaches (run on each
 * implementation and profile through the lifecycle oracle, plus the kernel
 * lanes' recorded answers in model/testdata/), which the transition tour's
 * paths reach, and which the random suite reaches (a pinned-seed run on the
 * first implementation, in process).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Profile } from '../../spec/uapi/profiles.ts';
import { runPrograms } from '../../conformance/programs/session.ts';
import type { LoadedProgram } from '../../conformance/programs/types.ts';
import { coverageOf, machineShapes } from '../../model/coverage.ts';
import { readReplay, replay } from '../../model/replay.ts';
import { buildTour, notOnTour } from '../../model/tour/tour.ts';
import { MachinesCheck } from './machines-check.ts';
import { runSuite } from '../../conformance/suite/runner.ts';
import { collectLifecycleEdges } from '../../conformance/suite/oracles/lifecycle.ts';
import './implementations.ts';

const TESTDATA = join(import.meta.dirname, '..', '..', 'model', 'testdata');

export interface MachineCoverageColumn {
  /** e.g. "corpus ref [7.3]", "corpus linux-7.3 [7.3] (recorded)", "tour [7.3]", "suite". */
  readonly name: string;
  readonly edges: ReadonlySet<string>;
}

export interface MachinesCoverageReport {
  readonly columns: readonly { readonly name: string; readonly edges: number }[];
  readonly machines: readonly {
    readonly id: string;
    readonly title: string;
    readonly states: number;
    readonly edges: number;
    /** Per column: states and edges reached. */
    readonly reached: Readonly<Record<string, { readonly states: number; readonly edges: number }>>;
    /** Edges no column reaches, with why the tour does not (if it does not). */
    readonly missed: readonly { readonly edge: string; readonly tour?: string }[];
  }[];
}

/** The random suite's share: cases per profile (seed 1), 0 for none. */
export interface SuiteColumnOptions {
  readonly runs: number;
  readonly seed?: number;
}

/** Corpus columns (each implementation × profile, and the recorded kernel lanes), tour columns, the suite's. */
export async function machineColumns(
  impls: readonly string[],
  profiles: readonly Profile[],
  programs: readonly LoadedProgram[],
  profilesFor: (impl: string) => Profile[],
  suite: SuiteColumnOptions = { runs: 0 },
): Promise<MachineCoverageColumn[]> {
  const columns: MachineCoverageColumn[] = [];
  for (const impl of impls) {
    for (const profile of profilesFor(impl)) {
      const check = new MachinesCheck(profile);
      await runPrograms(impl, profile, programs, { onStep: check.observe });
      columns.push({ name: `corpus ${impl} [${profile}]`, edges: check.edges });
    }
  }
  for (const profile of profiles) {
    const file = join(TESTDATA, `corpus-linux-${profile}.jsonl.gz`);
    if (!impls.includes(`linux-${profile}`) && existsSync(file)) columns.push({ name: `corpus linux-${profile} [${profile}] (recorded)`, edges: replay(readReplay(file)).edges });
  }
  for (const profile of profiles) columns.push({ name: `tour [${profile}]`, edges: new Set(buildTour(profile).reached.keys()) });
  const impl = impls[0] ?? 'ref';
  if (suite.runs > 0) {
    for (const profile of profilesFor(impl)) {
      const sink = new Set<string>();
      collectLifecycleEdges(sink);
      try {
        await runSuite({ impl, profile, seed: suite.seed ?? 1, runs: suite.runs, oracle: 'full' });
      } finally {
        collectLifecycleEdges(undefined);
      }
      columns.push({ name: `suite ${impl} [${profile}] (${suite.runs} cases, seed ${suite.seed ?? 1})`, edges: sink });
    }
  }
  return columns;
}

export function machinesCoverage(columns: readonly MachineCoverageColumn[], profiles: readonly Profile[]): MachinesCoverageReport {
  const union = new Set<string>();
  for (const c of columns) for (const e of c.edges) union.add(e);
  const per = columns.map((c) => ({ name: c.name, cov: coverageOf(c.edges) }));
  return {
    columns: columns.map((c) => ({ name: c.name, edges: c.edges.size })),
    machines: machineShapes().map((m, i) => ({
      id: m.id,
      title: m.title,
      states: m.states.length,
      edges: m.edges.length,
      reached: Object.fromEntries(per.map((p) => [p.name, { states: p.cov[i]?.states.reached.length ?? 0, edges: p.cov[i]?.edges.reached.length ?? 0 }])),
      missed: m.edges
        .filter((e) => !union.has(e.key))
        .map((e) => {
          const why = profiles.map((p) => notOnTour(p, e.key)).find((x) => x !== undefined && !/ only: on the /.test(x));
          return { edge: e.key, ...(why ? { tour: why } : {}) };
        }),
    })),
  };
}

export function renderMachinesCoverage(r: MachinesCoverageReport): string {
  const lines: string[] = [];
  const names = r.columns.map((c) => c.name);
  lines.push('lifecycle machines: states and transitions reached (states/edges per column)');
  names.forEach((n, i) => lines.push(`  [${i + 1}] ${n}`));
  const head = `${'machine'.padEnd(14)} ${'states'.padStart(6)} ${'edges'.padStart(6)}  ` + names.map((_, i) => `[${i + 1}]`.padStart(9)).join(' ');
  lines.push(head);
  let states = 0;
  let edges = 0;
  for (const m of r.machines) {
    states += m.states;
    edges += m.edges;
    lines.push(`${m.id.padEnd(14)} ${String(m.states).padStart(6)} ${String(m.edges).padStart(6)}  ` + names.map((n) => `${m.reached[n]?.states ?? 0}/${m.reached[n]?.edges ?? 0}`.padStart(9)).join(' '));
  }
  lines.push(`${'total'.padEnd(14)} ${String(states).padStart(6)} ${String(edges).padStart(6)}  ` + r.columns.map((c) => `${c.edges}`.padStart(9)).join(' '));
  const missed = r.machines.flatMap((m) => m.missed);
  if (missed.length > 0) {
    lines.push(`edges no column reaches (${missed.length}):`);
    for (const x of missed) lines.push(`  ${x.edge}${x.tour ? `: ${x.tour}` : ''}`);
  }
  return lines.join('\n') + '\n';
}
