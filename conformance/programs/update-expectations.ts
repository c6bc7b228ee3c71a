/**
 * Writing an implementation's `unsupported` entries from a run
 * (`iommufd-spec exec … --update-expectations`): what did not run, and why,
 * exactly as the runner observed it — never typed in by hand. The entries of
 * the programs and profiles the run covered are replaced; everything else in
 * the file (divergence entries, other profiles, other programs) is kept.
 *
 * A skipped step's reason is the capability report's (or the adapter's
 * `unsupported` answer); a step skipped because it needs a result of a
 * skipped step says so, and inherits that step's roadmap draft.
 */
import type { Profile } from '../../spec/contract/types.ts';
import { PROFILES } from '../../spec/uapi/profiles.ts';
import type { ExpectationEntry, ExpectationsFile } from './expectations.ts';
import type { ProgramRun } from './run.ts';

/** Why one step (or, with step undefined, the whole program) does not run. */
interface Skip {
  readonly reason: string;
  readonly roadmap?: string;
}

interface Cell {
  readonly whole?: Skip;
  readonly steps: ReadonlyMap<number, Skip>;
}

export class UpdateError extends Error {}

const ROADMAP_IN_REASON = /roadmap draft \d+ \(([\w.-]+\.md)/;
const DEPENDENCY = /^needs \$\w+ from step (\d+) /;

/** The roadmap draft a reason names, if it names one. */
export function roadmapIn(reason: string): string | undefined {
  return ROADMAP_IN_REASON.exec(reason)?.[1];
}

/** The skips a run observed, as a cell (undefined: it ran every step). */
function cellOf(run: ProgramRun): Cell | undefined {
  if (run.skipKind === 'profile') return undefined;
  if (run.skipped) return { whole: { reason: run.skipped, roadmap: roadmapIn(run.skipped) }, steps: new Map() };
  const steps = new Map<number, Skip>();
  for (const o of run.steps) {
    if (o.status !== 'skipped') continue;
    const reason = o.reason ?? 'skipped';
    const dep = DEPENDENCY.exec(reason);
    const roadmap = roadmapIn(reason) ?? (dep ? steps.get(Number(dep[1]))?.roadmap : undefined);
    steps.set(o.step, { reason, ...(roadmap !== undefined && { roadmap }) });
  }
  return steps.size > 0 ? { steps } : undefined;
}

/** Existing unsupported entries as cells per program and profile. */
function cellsOf(entries: readonly ExpectationEntry[], profilesOf: (program: string) => readonly Profile[]): Map<string, Map<Profile, Cell>> {
  const cells = new Map<string, Map<Profile, Cell>>();
  for (const e of entries) {
    if (e.kind !== 'unsupported') continue;
    const skip: Skip = { reason: e.reason, ...(e.roadmap !== undefined && { roadmap: e.roadmap }) };
    for (const profile of e.profiles ?? profilesOf(e.program)) {
      const byProfile = cells.get(e.program) ?? new Map<Profile, Cell>();
      cells.set(e.program, byProfile);
      const prev = byProfile.get(profile) ?? { steps: new Map() };
      if (e.steps === undefined) {
        byProfile.set(profile, { ...prev, whole: skip });
      } else {
        const steps = new Map(prev.steps);
        for (const n of e.steps) steps.set(n, skip);
        byProfile.set(profile, { ...prev, steps });
      }
    }
  }
  return cells;
}

/** A cell as entries without profiles: one for the whole program, or one per (reason, roadmap) with its steps. */
function entriesOfCell(program: string, cell: Cell): Omit<ExpectationEntry, 'profiles'>[] {
  const roadmap = (s: Skip) => (s.roadmap !== undefined ? { roadmap: s.roadmap } : {});
  if (cell.whole) return [{ program, kind: 'unsupported', reason: cell.whole.reason, ...roadmap(cell.whole) }];
  const groups = new Map<string, { skip: Skip; steps: number[] }>();
  for (const [n, skip] of [...cell.steps.entries()].sort((a, b) => a[0] - b[0])) {
    const key = JSON.stringify([skip.reason, skip.roadmap ?? null]);
    const g = groups.get(key) ?? { skip, steps: [] };
    g.steps.push(n);
    groups.set(key, g);
  }
  return [...groups.values()]
    .sort((a, b) => (a.steps[0] as number) - (b.steps[0] as number))
    .map((g) => ({ program, steps: g.steps, kind: 'unsupported', reason: g.skip.reason, ...roadmap(g.skip) }));
}

export interface UpdateResult {
  readonly file: ExpectationsFile;
  /** Unsupported entries before and after. */
  readonly before: number;
  readonly after: number;
}

/**
 * The file with the unsupported entries of every (program, profile) the runs
 * cover replaced by what they observed. `requireRoadmap` (the reference's
 * file): every entry must name the roadmap draft that brings it.
 */
export function updateUnsupported(file: ExpectationsFile, runs: readonly ProgramRun[], opts: { readonly requireRoadmap?: boolean } = {}): UpdateResult {
  const programProfiles = new Map(runs.map((r) => [r.program.name, r.program.profiles] as const));
  const profilesOf = (program: string): readonly Profile[] => programProfiles.get(program) ?? PROFILES;
  const cells = cellsOf(file.entries, profilesOf);
  for (const run of runs) {
    const cell = cellOf(run);
    const byProfile = cells.get(run.program.name) ?? new Map<Profile, Cell>();
    if (cell) byProfile.set(run.profile, cell);
    else byProfile.delete(run.profile);
    cells.set(run.program.name, byProfile);
  }
  const unsupported: ExpectationEntry[] = [];
  for (const program of [...cells.keys()].sort()) {
    const byProfile = cells.get(program) as Map<Profile, Cell>;
    // The same entry on several profiles is written once, with the profiles it applies to.
    const merged = new Map<string, { entry: Omit<ExpectationEntry, 'profiles'>; profiles: Profile[] }>();
    for (const profile of PROFILES) {
      const cell = byProfile.get(profile);
      if (!cell) continue;
      for (const entry of entriesOfCell(program, cell)) {
        const key = JSON.stringify(entry);
        const m = merged.get(key) ?? { entry, profiles: [] };
        m.profiles.push(profile);
        merged.set(key, m);
      }
    }
    for (const { entry, profiles } of merged.values()) {
      const all = profilesOf(program).every((p) => profiles.includes(p));
      if (opts.requireRoadmap && entry.roadmap === undefined) {
        throw new UpdateError(`${program}${entry.steps ? ` steps ${entry.steps.join(', ')}` : ''}: the skip reason names no roadmap draft ("${entry.reason}"); the reference's capability report must say which draft brings it`);
      }
      unsupported.push({ ...entry, ...(all ? {} : { profiles }) });
    }
  }
  const kept = file.entries.filter((e) => e.kind !== 'unsupported');
  return {
    file: { implementation: file.implementation, entries: [...kept, ...unsupported] },
    before: file.entries.length - kept.length,
    after: unsupported.length,
  };
}

/** The file as written to disk: one entry per line block, stable key order. */
export function formatExpectations(file: ExpectationsFile): string {
  const order = ['program', 'profiles', 'step', 'steps', 'field', 'observed', 'expected', 'kind', 'reason', 'roadmap'] as const;
  const entries = file.entries.map((e) => {
    const o: Record<string, unknown> = {};
    for (const k of order) if (e[k] !== undefined) o[k] = e[k];
    return o;
  });
  const text = JSON.stringify({ implementation: file.implementation, entries }, null, 1);
  // Lists of step numbers and profiles on one line.
  return `${text.replace(/\[\n\s*((?:"[\d.]+"|\d+)(?:,\n\s*(?:"[\d.]+"|\d+))*)\n\s*\]/g, (_m, items: string) => `[${items.split(/,\n\s*/).join(', ')}]`)}\n`;
}
