/**
 * The issue's bar for the whole catalogue, as `iommufd-spec mutants` runs it
 * (run's default budget and seed): every mutant is killed with the full
 * oracle set, and every security mutant (isolation, confinement, coherency)
 * with the invariants alone. A change to the reference that keeps every
 * answer right can still take away the behaviour a mutant needs to show
 * itself (batched pinning once pinned nothing before a bad page, so a leak on
 * that error path had nothing to leak): this is where that shows. Each
 * mutant's known kill (known-kills.ts) is replayed before its whole budget.
 */
import { describe, expect } from 'vitest';
import { check } from '../../spec/clauses/check.ts';
import { mutantsCli } from './cli-rows.test-support.ts';
import { knownKillsFile } from './known-kills.ts';
import { MUTANTS } from './catalogue.ts';

describe('the random suite kills the mutant catalogue at its default budget', () => {
  check('mutants.catalogue.all-killed-full', async () => {
    const rows = await mutantsCli(['--oracle', 'full', '--known-kills', knownKillsFile('catalogue', 'full')]);
    expect(rows.filter((r) => r.verdict !== 'killed').map((r) => `${r.name}: ${r.verdict}${r.error ? ` (${r.error})` : ''}`)).toStrictEqual([]);
  }, 300_000);

  check('mutants.catalogue.security-killed-by-invariants', async () => {
    // Only the security mutants: the others may need an oracle that knows the reference's answers.
    const security = MUTANTS.filter((m) => m.security).map((m) => m.name);
    expect(security.length).toBeGreaterThanOrEqual(10);
    const rows = await mutantsCli(['--oracle', 'invariants', '--known-kills', knownKillsFile('catalogue', 'invariants'), '--only', security.join(',')]);
    expect(rows.map((r) => r.name)).toStrictEqual(security);
    expect(rows.filter((r) => r.verdict !== 'killed').map((r) => `${r.name}: ${r.verdict}`)).toStrictEqual([]);
  }, 300_000);
});
