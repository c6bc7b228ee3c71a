import { describe, expect, it } from 'vitest';
import { clauseCoverage, loadClauses } from './registry.ts';

const ID = /^[A-Z0-9_]+(\.[A-Z0-9_]+)+$/;

describe('clause registry', async () => {
  const clauses = await loadClauses();
  const coverage = await clauseCoverage();

  it('has clauses', () => {
    expect(clauses.length).toBeGreaterThan(0);
  });

  it('gives every clause a unique, well-formed id', () => {
    const seen = new Set<string>();
    for (const c of clauses) {
      expect(c.id, `${c.file}: ${c.id}`).toMatch(ID);
      expect(seen.has(c.id), `duplicate clause id ${c.id}`).toBe(false);
      seen.add(c.id);
    }
  });

  it('gives every clause a statement, a kernel source, and at least one profile', () => {
    for (const c of clauses) {
      expect(c.statement.length, c.id).toBeGreaterThan(10);
      expect(c.source.file, c.id).toMatch(/\.(c|h)$/);
      expect(c.source.function.length, c.id).toBeGreaterThan(0);
      expect(c.profiles.length, c.id).toBeGreaterThan(0);
      for (const p of c.profiles) expect(['6.12', '7.3'], c.id).toContain(p);
    }
  });

  it('names only checks that exist', () => {
    const broken = coverage.filter((c) => c.missing.length > 0).map((c) => `${c.clause.id} → ${c.missing.join(', ')}`);
    expect(broken).toEqual([]);
  });

  it('gives errno clauses an errno name', () => {
    for (const c of clauses.filter((c) => c.kind === 'errno')) {
      expect(c.errno, c.id).toMatch(/^E[A-Z0-9]+$/);
    }
  });
});
