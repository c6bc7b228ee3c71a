/**
 * Finds the checks declared in the repository: every `check('<name>', …)` call
 * in a test file (spec/clauses/check.ts). Static, so `iommufd-spec spec` can
 * report coverage without running the tests.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';

const CHECK_CALL = /\bcheck\(\s*(['"`])([^'"`]+)\1/g;
const SKIP_DIRS = new Set(['node_modules', '.git', '.cache', 'coverage']);

export interface DeclaredCheck {
  readonly name: string;
  readonly file: string;
}

function* testFiles(dir: string): Generator<string> {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.isDirectory()) {
      if (!SKIP_DIRS.has(entry.name)) yield* testFiles(join(dir, entry.name));
    } else if (entry.name.endsWith('.test.ts')) {
      yield join(dir, entry.name);
    }
  }
}

export function findDeclaredChecks(root: string): Map<string, DeclaredCheck[]> {
  const found = new Map<string, DeclaredCheck[]>();
  for (const file of testFiles(root)) {
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(CHECK_CALL)) {
      const name = m[2] as string;
      // A name built at run time (a template with ${…}) cannot be named by a clause.
      if (name.includes('${')) continue;
      const list = found.get(name) ?? [];
      list.push({ name, file: relative(root, file) });
      found.set(name, list);
    }
  }
  return found;
}
