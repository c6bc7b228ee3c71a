/**
 * `iommufd-spec tour --impl <name> [--profile P] [--json] [--write DIR] [--only TEXT]`:
 * the lifecycle machines' transition tour. The bounded traversal of the
 * system machine (model/tour/) gives a shortest path to every edge (source,
 * event, guard, target) it can reach; the paths become ioctl programs; they
 * run on the implementation with every step checked by the lifecycle oracle.
 * Per edge: confirmed (a step predicted to take it did, the implementation
 * answering as predicted), pending (the implementation lacks what the path
 * needs: its capability report says so, or it answers EOPNOTSUPP where the
 * machines predict success), or failed (the implementation answered
 * otherwise). Edges no path can reach are listed with the reason. Exit 1
 * when an edge failed.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import type { RegisterCommand } from './register.ts';
import { UsageError } from '../usage.ts';
import { PROFILES, type Profile } from '../../spec/uapi/profiles.ts';
import type { Response, SingleRequest } from '../../spec/contract/types.ts';
import { validateProgram } from '../../conformance/programs/load.ts';
import { AdapterOpenError, impliedProfile, jsonReplacer, runPrograms } from '../../conformance/programs/session.ts';
import type { ExecutedStep, ProgramRun } from '../../conformance/programs/run.ts';
import { errnoName } from '../../conformance/programs/errno.ts';
import type { LoadedProgram } from '../../conformance/programs/types.ts';
import { createLifecycleOracle, type LifecycleOracle, type Verdict } from '../../model/oracle.ts';
import { buildTour, notOnTour } from '../../model/tour/tour.ts';
import { tourPrograms, type TourProgram } from '../../model/tour/programs.ts';
import { machineShapes } from '../../model/coverage.ts';
import { parseProfile } from './exec.ts';
import './implementations.ts';

interface TourOptions {
  impl?: string;
  profile?: string;
  json?: boolean;
  write?: string;
  only?: string;
}

/** Errnos that mean "not implemented here", not "refused by a rule". */
const UNSUPPORTED = new Set(['EOPNOTSUPP', 'ENOTTY', 'ENOSYS']);
/** Environment ops: an implementation's environment may refuse what a real system could do (a protocol error, not a result). */
const ENVIRONMENT_OPS = new Set(['device_create', 'device_remove', 'open_device', 'kvm_create', 'kvm_destroy', 'kvm_vfio_add', 'kvm_vfio_del', 'kvm_state']);
/** The roadmap draft that brings what the reference does not implement yet. */
export const PENDING_ROADMAP = '9-nested-viommu-pasid-7.3.md';

export type EdgeStatus = 'confirmed' | 'pending' | 'failed';

export interface EdgeResult {
  readonly edge: string;
  readonly status: EdgeStatus;
  readonly program: string;
  readonly step: number;
  readonly detail: string;
}

export interface TourReport {
  readonly implementation: string;
  readonly profile: Profile;
  readonly edges: { readonly total: number; readonly inTour: number; readonly unreachable: number; readonly confirmed: number; readonly pending: number; readonly failed: number };
  readonly programs: number;
  readonly results: readonly EdgeResult[];
  readonly unreachable: readonly { readonly edge: string; readonly reason: string }[];
}

/** Per program, per executed step: the oracle's verdict. */
class Observer {
  private oracle: LifecycleOracle | undefined;
  private program = '';
  readonly verdicts = new Map<string, Map<number, Verdict>>();
  readonly observe = (s: ExecutedStep): void => {
    if (s.program !== this.program || !this.oracle) {
      this.program = s.program;
      this.oracle = createLifecycleOracle(s.capabilities.profile, { capabilities: s.capabilities });
      this.verdicts.set(s.program, new Map());
    }
    if (s.request.op === 'batch') return;
    this.verdicts.get(s.program)!.set(s.step, this.oracle.check(s.request as SingleRequest, s.response as Response));
  };
}

function errnoOf(o: { status: string; errno?: number }): string | undefined {
  return o.status === 'failed' && o.errno !== undefined ? (errnoName(o.errno) ?? String(o.errno)) : undefined;
}

/** Classifies every predicted edge of one program run. */
function classify(tp: TourProgram, run: ProgramRun, verdicts: ReadonlyMap<number, Verdict> | undefined): EdgeResult[] {
  const name = tp.program.name;
  const out: EdgeResult[] = [];
  if (run.skipped) {
    for (const [i, edges] of tp.edges.entries()) for (const edge of edges) out.push({ edge, status: 'pending', program: name, step: i + 1, detail: run.skipped });
    return out;
  }
  let blocked: { status: EdgeStatus; detail: string } | undefined;
  for (const [i, edges] of tp.edges.entries()) {
    const n = i + 1;
    const o = run.steps[i];
    const v = verdicts?.get(n);
    const expected = tp.program.steps[i]?.expect as { ok?: boolean; errno?: string[] } | undefined;
    let status: EdgeStatus = 'confirmed';
    let detail = '';
    if (blocked) ({ status, detail } = blocked);
    else if (!o || o.status === 'skipped') {
      status = 'pending';
      detail = `step ${n} skipped: ${o?.reason ?? 'not run'}`;
      blocked = { status, detail };
    } else if (o.status === 'error' && ENVIRONMENT_OPS.has(o.op)) {
      status = 'pending';
      detail = `step ${n}: the environment cannot ${o.op} here: ${o.reason ?? ''}`;
      blocked = { status, detail };
    } else if (o.status === 'error') {
      status = 'failed';
      detail = `step ${n}: ${o.reason ?? 'error'}`;
      blocked = { status, detail: `after step ${n} failed` };
    } else {
      const errno = errnoOf(o);
      if (errno && UNSUPPORTED.has(errno) && !(expected?.errno ?? []).includes(errno)) {
        status = 'pending';
        detail = `step ${n} (${o.command ?? o.op}${o.testOp ? ' ' + o.testOp : ''}): ${errno}, not implemented`;
        blocked = { status, detail };
      } else if (v?.kind === 'disagree') {
        status = 'failed';
        detail = `step ${n}: ${v.how}: ${v.message}`;
        blocked = { status, detail: `after step ${n} disagreed` };
      } else if (o.violations.length > 0) {
        status = 'failed';
        detail = `step ${n}: ${o.violations.join('; ')}`;
        blocked = { status, detail: `after step ${n} failed` };
      } else if (v && v.kind === 'ok') {
        const taken = new Set(v.edges);
        const missing = edges.filter((e) => !taken.has(e));
        if (missing.length > 0) {
          status = 'failed';
          detail = `step ${n}: took ${[...taken].join(', ')} instead of ${missing.join(', ')}`;
        }
      } else if (v && v.kind === 'open' && edges.length > 0 && expected !== undefined) {
        status = 'pending';
        detail = `step ${n}: the machines leave ${errno ?? 'the answer'} open (${v.reason})`;
      }
    }
    for (const edge of edges) out.push({ edge, status, program: name, step: n, detail });
  }
  return out;
}

const RANK: Record<EdgeStatus, number> = { confirmed: 3, failed: 2, pending: 1 };

export async function runTour(impl: string, profile: Profile | undefined, opts: { only?: string; write?: string } = {}): Promise<TourReport> {
  const p = profile ?? impliedProfile(impl) ?? '7.3';
  const tour = buildTour(p);
  let programs = tourPrograms(tour);
  if (opts.only) programs = programs.filter((t) => t.program.name.includes(opts.only as string));
  if (opts.write) {
    mkdirSync(opts.write, { recursive: true });
    for (const t of programs) writeFileSync(join(opts.write, `${t.program.name}.json`), JSON.stringify(t.program, null, 1) + '\n');
  }
  const loaded: LoadedProgram[] = programs.map((t) => ({ program: validateProgram(t.program, `${t.program.name}.json`), file: `${t.program.name}.json` }));
  const observer = new Observer();
  let session;
  try {
    session = await runPrograms(impl, p, loaded, { onStep: observer.observe });
  } catch (err) {
    if (err instanceof AdapterOpenError) throw new UsageError(err.message);
    throw err;
  }
  const best = new Map<string, EdgeResult>();
  session.runs.forEach((run, i) => {
    const tp = programs[i] as TourProgram;
    for (const r of classify(tp, run, observer.verdicts.get(tp.program.name))) {
      const cur = best.get(r.edge);
      if (!cur || RANK[r.status] > RANK[cur.status]) best.set(r.edge, r);
    }
  });
  const all = machineShapes().flatMap((m) => m.edges.map((e) => e.key));
  const results = all.filter((e) => best.has(e)).map((e) => best.get(e) as EdgeResult);
  const unreachable = all.filter((e) => !tour.reached.has(e)).map((edge) => ({ edge, reason: notOnTour(p, edge) as string }));
  const count = (s: EdgeStatus): number => results.filter((r) => r.status === s).length;
  return {
    implementation: impl,
    profile: session.profile,
    edges: { total: all.length, inTour: tour.reached.size, unreachable: unreachable.length, confirmed: count('confirmed'), pending: count('pending'), failed: count('failed') },
    programs: programs.length,
    results,
    unreachable,
  };
}

export function renderTour(r: TourReport): string {
  const lines: string[] = [];
  const e = r.edges;
  lines.push(`transition tour on ${r.implementation} [${r.profile}]: ${r.programs} programs`);
  lines.push(`  edges: ${e.total} in the machines, ${e.inTour} on tour paths for this profile, ${e.unreachable} not reachable here`);
  lines.push(`  ${e.confirmed} taken as predicted, ${e.pending} pending, ${e.failed} failed`);
  const pending = r.results.filter((x) => x.status === 'pending');
  if (pending.length > 0) {
    lines.push(`pending (roadmap ${PENDING_ROADMAP} for what the reference lacks), by reason:`);
    const byReason = new Map<string, number>();
    for (const x of pending) byReason.set(shortReason(x.detail), (byReason.get(shortReason(x.detail)) ?? 0) + 1);
    for (const [why, n] of [...byReason].sort((a, b) => b[1] - a[1])) lines.push(`  ${String(n).padStart(4)}  ${why}`);
  }
  if (e.failed > 0) {
    lines.push('FAILED:');
    for (const x of r.results) if (x.status === 'failed') lines.push(`  ${x.edge}\n      ${x.program} ${x.detail}`);
  }
  const otherProfile = r.unreachable.filter((u) => / only: on the /.test(u.reason));
  if (otherProfile.length > 0) lines.push(`not on this profile's tour: ${otherProfile.length} edges of the other profile's uAPI or rules (${otherProfile[0]?.reason.replace(/:.*/, '')})`);
  const never = r.unreachable.filter((u) => !/ only: on the /.test(u.reason));
  if (never.length > 0) {
    lines.push('not reachable by any tour:');
    for (const u of never) lines.push(`  ${u.edge}: ${u.reason}`);
  }
  return lines.join('\n') + '\n';
}

/** A pending reason without the step number, to group by. */
function shortReason(detail: string): string {
  return detail
    .replace(/^step \d+ skipped: /, '')
    .replace(/^step \d+ \(([^)]*)\): /, '$1: ')
    .replace(/^step \d+: /, '')
    .replace(/^(the machines leave \S+ open).*/, '$1');
}

export const register: RegisterCommand = (program: Command, setExit) => {
  program
    .command('tour')
    .description("run the lifecycle machines' transition tour (model/tour/) on an implementation: which machine edges it takes as predicted")
    .option('--impl <name>', 'implementation: ref, stub, linux-6.12, linux-7.3, cmd:<command line>, or a module path', 'ref')
    .option('--profile <profile>', `kernel profile (${PROFILES.join(' or ')}); default: the implementation's, else 7.3`)
    .option('--json', 'print the report as JSON')
    .option('--write <dir>', 'also write the tour programs to <dir> (one JSON file each)')
    .option('--only <text>', 'run only the tour programs whose name contains <text>')
    .action(async (opts: TourOptions) => {
      const profile = parseProfile('tour', opts.profile);
      const report = await runTour(opts.impl ?? 'ref', profile, { ...(opts.only ? { only: opts.only } : {}), ...(opts.write ? { write: opts.write } : {}) });
      process.stdout.write(opts.json ? JSON.stringify(report, jsonReplacer, 1) + '\n' : renderTour(report));
      setExit(report.edges.failed > 0 ? 1 : 0);
    });
};
