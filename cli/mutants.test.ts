/**
 * `iommufd-spec mutants` and `--impl mutant:<name>`: a few mutants killed by
 * the suite with a pinned seed, the replay file each run wrote reproducing the
 * failure on that mutant (`iommufd-spec replay FILE --impl mutant:<name>`)
 * and passing on the reference; the command's usage errors.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from './main.ts';
import { openAdapter } from '../conformance/adapter/open.ts';
import { MUTANT_PREFIX } from '../conformance/mutants/register.ts';
import { runMutants, VERDICT_ONLY, type MutantRow } from '../conformance/mutants/run.ts';
import { runFaultsParallel } from '../conformance/mutants/parallel.ts';

describe('the suite kills mutants; a replay file reproduces the failure on the mutant and passes on the reference', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'mutants-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const cases: { name: string; property: string }[] = [
    { name: 'write-permission-ignored', property: 'invariants.dma-confinement' },
    { name: 'destroy-ignores-users', property: 'invariants.lifetime' },
  ];
  for (const c of cases) {
    it(`${c.name}: killed by --oracle invariants (seed 1); its replay file reproduces on the mutant, passes on ref`, async () => {
      // iommufd-spec mutants --only NAME --oracle invariants: killed (exit 0: every selected mutant died), replay file written.
      const out = join(dir, `${c.name}.out.json`);
      expect(await main(['node', 'iommufd-spec', 'mutants', '--only', c.name, '--oracle', 'invariants', '--seed', '1', '--runs', '120', '--no-corpus', '--shrink-time', '5000', '--json', '--replay-dir', dir, '--out', out])).toBe(0);
      const row = (JSON.parse(readFileSync(out, 'utf8')) as { rows: { name: string; verdict: string; killedBy: string[]; properties: string[]; replayFile?: string }[] }).rows[0]!;
      expect(row.verdict).toBe('killed');
      expect(row.killedBy).toContain('invariants');
      expect(row.properties).toContain(c.property);
      const file = row.replayFile!;
      expect(file).toBe(join(dir, `${c.name}.json`));
      // iommufd-spec replay FILE --impl mutant:<name>: the failure reproduces (exit 1) …
      expect(await main(['node', 'iommufd-spec', 'replay', file, '--impl', `${MUTANT_PREFIX}${c.name}`, '--oracle', 'invariants', '--json'])).toBe(1);
      // … and the reference passes it (exit 0), under every oracle.
      expect(await main(['node', 'iommufd-spec', 'replay', file, '--impl', 'ref', '--json'])).toBe(0);
    }, 120_000);
  }

  it('an opened mutant:<name> is the mutant (through the registry, as run/replay open it)', async () => {
    const a = await openAdapter(`${MUTANT_PREFIX}write-permission-ignored`, { profile: '7.3' });
    expect(a.info.implementation.name).toBe(`${MUTANT_PREFIX}write-permission-ignored`);
    await a.close();
  });
});

describe('mutants --jobs', () => {
  it('gives the rows one thread gives, in the same order, however the faults are spread', async () => {
    const only = ['write-permission-ignored', 'destroy-ignores-users', 'map-reserved-ignored'];
    const opts = { only, oracle: 'invariants' as const, runs: 200, corpus: false, ...VERDICT_ONLY };
    // What a verdict is, without the timings.
    const verdicts = (rows: readonly MutantRow[]) => rows.map(({ name, verdict, killedBy, properties, cases, commands }) => ({ name, verdict, killedBy, properties, cases, commands }));
    const one = await runMutants(opts);
    expect(one.map((r) => r.verdict)).toStrictEqual(['killed', 'killed', 'killed']);
    const seen: string[] = [];
    const two = await runFaultsParallel('catalogue', { ...opts, onRow: (r) => seen.push(r.name) }, 2);
    expect(verdicts(two)).toStrictEqual(verdicts(one));
    expect([...seen].sort()).toStrictEqual([...only].sort());
  }, 300_000);

  it('a fault whose worker dies is an error row, not a lost one', async () => {
    // Two workers that each report their first fault and exit with code 3.
    const dying = new URL('../conformance/mutants/fixtures/dying-worker.ts', import.meta.url).href;
    const only = ['dma-read-zeros', 'translate-remembers-unmapped', 'dma-unmapped-reads-zeros', 'dma-write-next-page'];
    const rows = await runFaultsParallel('answer-faults', { only, oracle: 'invariants' }, 2, dying);
    // Catalogue order, dealt round-robin: the first worker has the 1st and 3rd, the second the 2nd and 4th.
    expect(rows.map((r) => [r.name, r.verdict])).toStrictEqual([
      ['translate-remembers-unmapped', 'killed'],
      ['dma-unmapped-reads-zeros', 'killed'],
      ['dma-read-zeros', 'error'],
      ['dma-write-next-page', 'error'],
    ]);
    expect(rows[2]?.error).toBe('worker failed: exited with code 3');
  }, 120_000);
});

describe('iommufd-spec mutants usage', () => {
  it('refuses an unknown mutant, oracle or count (exit 2)', async () => {
    expect(await main(['node', 'iommufd-spec', 'mutants', '--only', 'no-such-mutant'])).toBe(2);
    expect(await main(['node', 'iommufd-spec', 'mutants', '--oracle', 'some'])).toBe(2);
    expect(await main(['node', 'iommufd-spec', 'mutants', '--runs', '0'])).toBe(2);
    expect(await main(['node', 'iommufd-spec', 'mutants', '--jobs', '0'])).toBe(2);
  });
});
