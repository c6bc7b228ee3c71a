/**
 * Errno coverage: per command and profile, which errno clauses of the spec
 * (spec/clauses, kind 'errno', with `command` and `errno`) the corpus reaches
 * on an implementation — reached means some step of that command returned
 * that errno there.
 */
import type { Profile } from '../../spec/contract/types.ts';
import { loadClauses, type LoadedClause } from '../../spec/clauses/registry.ts';
import { commandsFor, testOpsFor } from '../../spec/uapi/index.ts';
import { resolveCommand } from '../../spec/abi/arg.ts';
import { errnoName } from './errno.ts';
import type { SessionResult } from './session.ts';

/**
 * A step's command as coverage names it: a program may give the request
 * number instead of the name; a number the profile knows is named
 * (IOMMU_DESTROY), any other is shown in hex as the unknown request it is.
 */
export function commandLabel(profile: Profile, command: string): string {
  if (!/^\d+$/.test(command)) return command;
  const n = Number(command);
  return resolveCommand(profile, n)?.name ?? `unknown ioctl 0x${n.toString(16)}`;
}

/** "COMMAND errno" pairs the runs reached, with how often. IOMMU_TEST_CMD
 * steps count for the command and for their test op. */
export function reachedErrnos(session: SessionResult): Map<string, number> {
  const reached = new Map<string, number>();
  const add = (key: string): void => {
    reached.set(key, (reached.get(key) ?? 0) + 1);
  };
  for (const run of session.runs) {
    for (const o of run.steps) {
      if (o.status !== 'failed' || !o.command) continue;
      const e = errnoName(o.errno ?? 0);
      add(`${commandLabel(session.profile, o.command)} ${e}`);
      if (o.testOp) add(`${o.testOp} ${e}`);
    }
  }
  return reached;
}

/** Commands the runs issued (any outcome but skipped), with step counts. */
export function commandsRun(session: SessionResult): Map<string, number> {
  const seen = new Map<string, number>();
  for (const run of session.runs) {
    for (const o of run.steps) {
      if (!o.command || o.status === 'skipped') continue;
      const command = commandLabel(session.profile, o.command);
      seen.set(command, (seen.get(command) ?? 0) + 1);
      if (o.testOp) seen.set(o.testOp, (seen.get(o.testOp) ?? 0) + 1);
    }
  }
  return seen;
}

export interface CoverageColumn {
  readonly implementation: string;
  readonly profile: Profile;
  readonly reached: ReadonlyMap<string, number>;
  readonly commands: ReadonlyMap<string, number>;
}

export interface ClauseRow {
  readonly clause: Pick<LoadedClause, 'id' | 'command' | 'errno' | 'profiles'>;
  /** Per column: reached, not reached, or not applicable (clause not in that profile). */
  readonly cells: readonly ('reached' | 'missed' | 'n/a')[];
}

export interface ErrnoCoverage {
  readonly columns: readonly CoverageColumn[];
  readonly rows: readonly ClauseRow[];
  /** Per column: "COMMAND errno" pairs reached that no clause names. */
  readonly unclaimed: readonly (readonly string[])[];
  /** Per column: commands and test ops of the profile's spec data no step issued (or all were skipped). */
  readonly neverIssued: readonly (readonly string[])[];
}

export async function errnoClauses(): Promise<LoadedClause[]> {
  return (await loadClauses()).filter((c) => c.kind === 'errno' && c.command && c.errno);
}

export function errnoCoverage(clauses: readonly Pick<LoadedClause, 'id' | 'command' | 'errno' | 'profiles'>[], sessions: readonly SessionResult[]): ErrnoCoverage {
  const columns: CoverageColumn[] = sessions.map((s) => ({
    implementation: s.implementation,
    profile: s.profile,
    reached: reachedErrnos(s),
    commands: commandsRun(s),
  }));
  const rows: ClauseRow[] = clauses.map((clause) => ({
    clause,
    cells: columns.map((col) =>
      !clause.profiles.includes(col.profile) ? 'n/a' : col.reached.has(`${clause.command} ${clause.errno}`) ? 'reached' : 'missed',
    ),
  }));
  const claimed = new Set(clauses.map((c) => `${c.command} ${c.errno}`));
  const unclaimed = columns.map((col) => [...col.reached.keys()].filter((k) => !claimed.has(k)).sort());
  const neverIssued = columns.map((col) =>
    [...commandsFor(col.profile).map((c) => c.name), ...testOpsFor(col.profile).map((t) => t.name)].filter((n) => !col.commands.has(n)),
  );
  return { columns, rows, unclaimed, neverIssued };
}

/** The table as text: one block per command, a column per implementation/profile. */
export function renderErrnoCoverage(cov: ErrnoCoverage): string {
  const lines: string[] = [];
  const heads = cov.columns.map((c) => `${c.implementation}[${c.profile}]`);
  const width = Math.max(...cov.rows.map((r) => r.clause.id.length), 10) + 2;
  lines.push(`${'clause'.padEnd(width)}${'errno'.padEnd(12)}${heads.map((h) => h.padEnd(Math.max(h.length + 2, 8))).join('')}`);
  const byCommand = new Map<string, ClauseRow[]>();
  for (const r of cov.rows) byCommand.set(r.clause.command as string, [...(byCommand.get(r.clause.command as string) ?? []), r]);
  for (const [command, rows] of [...byCommand].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const runs = cov.columns.map((c) => c.commands.get(command) ?? 0);
    lines.push(`${command}  (steps: ${runs.join(' / ')})`);
    for (const r of rows) {
      const cells = r.cells.map((c, i) => (c === 'reached' ? 'yes' : c === 'missed' ? '-' : 'n/a').padEnd(Math.max((heads[i] as string).length + 2, 8)));
      lines.push(`  ${r.clause.id.padEnd(width - 2)}${(r.clause.errno as string).padEnd(12)}${cells.join('')}`);
    }
  }
  lines.push('');
  cov.columns.forEach((c, i) => {
    const applicable = cov.rows.filter((r) => r.cells[i] !== 'n/a');
    const reached = applicable.filter((r) => r.cells[i] === 'reached').length;
    lines.push(`${heads[i]}: ${reached}/${applicable.length} errno clauses reached; ${c.commands.size} commands/test ops issued`);
    const extra = cov.unclaimed[i] ?? [];
    if (extra.length > 0) lines.push(`  reached without a clause: ${extra.join(', ')}`);
    const never = cov.neverIssued[i] ?? [];
    if (never.length > 0) lines.push(`  never issued (or skipped everywhere): ${never.join(', ')}`);
  });
  return lines.join('\n') + '\n';
}
