/**
 * `iommufd-spec spec`: the clause table with coverage (which clauses name checks
 * that exist). `--json` for machines.
 */
import type { Command } from 'commander';
import type { RegisterCommand } from './register.ts';
import { clauseCoverage, type ClauseCoverage } from '../../spec/clauses/registry.ts';
import { UsageError } from '../usage.ts';

interface SpecOptions {
  json?: boolean;
  profile?: string;
  uncovered?: boolean;
  command?: string;
}

function toJson(rows: readonly ClauseCoverage[]) {
  return rows.map(({ clause, found, missing, covered }) => ({
    id: clause.id,
    kind: clause.kind,
    command: clause.command ?? null,
    errno: clause.errno ?? null,
    profiles: clause.profiles,
    statement: clause.statement,
    source: clause.source,
    checks: clause.checks,
    checks_found: [...new Set(found.map((f) => f.file))],
    checks_missing: missing,
    covered,
  }));
}

function pad(s: string, n: number): string {
  return s.length >= n ? s : s + ' '.repeat(n - s.length);
}

function printTable(rows: readonly ClauseCoverage[]): void {
  const idW = Math.max(4, ...rows.map((r) => r.clause.id.length));
  const out: string[] = [];
  out.push(`${pad('CLAUSE', idW)}  ${pad('KIND', 10)}  ${pad('PROFILES', 9)}  ${pad('ERRNO', 10)}  COVERED  CHECKS`);
  for (const { clause, missing, covered } of rows) {
    const checks = clause.checks.length === 0 ? '(none)' : clause.checks.map((c) => (missing.includes(c) ? `${c} [missing]` : c)).join(', ');
    out.push(
      `${pad(clause.id, idW)}  ${pad(clause.kind, 10)}  ${pad(clause.profiles.join(','), 9)}  ${pad(clause.errno ?? '', 10)}  ${pad(covered ? 'yes' : 'NO', 7)}  ${checks}`,
    );
  }
  const covered = rows.filter((r) => r.covered).length;
  out.push('');
  out.push(`${rows.length} clauses, ${covered} covered by existing checks, ${rows.length - covered} uncovered.`);
  process.stdout.write(out.join('\n') + '\n');
}

export const register: RegisterCommand = (program: Command, setExit) => {
  program
    .command('spec')
    .description('print the spec clause table with check coverage')
    .option('--json', 'print JSON for machines')
    .option('--profile <profile>', 'only clauses that hold for this profile (6.12 or 7.3)')
    .option('--command <name>', 'only clauses about this command (e.g. IOMMU_IOAS_MAP)')
    .option('--uncovered', 'only clauses without an existing check')
    .action(async (opts: SpecOptions) => {
      if (opts.profile !== undefined && opts.profile !== '6.12' && opts.profile !== '7.3') {
        throw new UsageError(`--profile must be 6.12 or 7.3 (got '${opts.profile}')`);
      }
      let rows = await clauseCoverage();
      if (opts.profile) rows = rows.filter((r) => r.clause.profiles.includes(opts.profile as '6.12' | '7.3'));
      if (opts.command) rows = rows.filter((r) => r.clause.command === opts.command);
      if (opts.uncovered) rows = rows.filter((r) => !r.covered);
      if (opts.json) process.stdout.write(JSON.stringify(toJson(rows), null, 2) + '\n');
      else printTable(rows);
      setExit(rows.some((r) => r.missing.length > 0) ? 1 : 0);
    });
};
