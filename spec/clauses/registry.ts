/**
 * The clause registry: every clause file in spec/clauses/ (a module exporting
 * `clauses: Clause[]`), loaded in file-name order, plus coverage against the
 * checks declared in the repository.
 */
import { readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Clause } from './types.ts';
import { findDeclaredChecks, type DeclaredCheck } from './checks.ts';

const HERE = dirname(fileURLToPath(import.meta.url));
export const REPO_ROOT = resolve(HERE, '..', '..');

/** Modules in spec/clauses/ that are machinery, not clause files. */
const NOT_CLAUSE_FILES = new Set(['types.ts', 'checks.ts', 'registry.ts', 'check.ts', 'render.ts']);

export function clauseFiles(): string[] {
  return readdirSync(HERE)
    .filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts') && !NOT_CLAUSE_FILES.has(f))
    .sort();
}

export interface LoadedClause extends Clause {
  /** The clause file it came from, e.g. ioas.ts */
  readonly file: string;
}

export async function loadClauses(): Promise<LoadedClause[]> {
  const all: LoadedClause[] = [];
  for (const file of clauseFiles()) {
    const mod = (await import(pathToFileURL(join(HERE, file)).href)) as { clauses?: readonly Clause[] };
    if (!Array.isArray(mod.clauses)) throw new Error(`spec/clauses/${file} does not export 'clauses: Clause[]'`);
    for (const c of mod.clauses) all.push({ ...c, file });
  }
  return all;
}

export interface ClauseCoverage {
  readonly clause: LoadedClause;
  /** Named checks that exist. */
  readonly found: readonly DeclaredCheck[];
  /** Named checks that do not exist anywhere (an error: the registry test fails). */
  readonly missing: readonly string[];
  /** Covered = names at least one check, and every named check exists. */
  readonly covered: boolean;
}

export async function clauseCoverage(): Promise<ClauseCoverage[]> {
  const clauses = await loadClauses();
  const declared = findDeclaredChecks(REPO_ROOT);
  return clauses.map((clause) => {
    const found = clause.checks.flatMap((name) => declared.get(name) ?? []);
    const missing = clause.checks.filter((name) => !declared.has(name));
    return { clause, found, missing, covered: clause.checks.length > 0 && missing.length === 0 };
  });
}
