/**
 * Known kills (known-kills.ts): a recorded case replayed alone gives the
 * verdict, property and killing case the run from case 0 gives; a stale one
 * falls back to that run; a malformed file is refused, naming its field.
 * Through the CLI, as the registry check uses them.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { mutantsCli } from './cli-rows.test-support.ts';
import { knownKillsFile, loadKnownKills, updatedKnownKills, type KillRun } from './known-kills.ts';
import { MUTANTS } from './catalogue.ts';
import { ANSWER_FAULTS } from './answer-faults.ts';
import { UNSEEN_FAULTS, unseenName } from './unseen.ts';
import { DEFAULTS } from '../suite/runner.ts';

const dir = mkdtempSync(join(tmpdir(), 'iommufd-spec-known-kills-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Two faults killed at seed 1 well after the first case (cases 28 and 29 when this was written), one past the first block. */
const FAULTS = ['group-revert-skips-failed-dev', 'rw-page-put-not-unpin'];
const RUN: KillRun = { seed: DEFAULTS.seed, runs: DEFAULTS.runs, maxCommands: DEFAULTS.maxCommands, blockSize: DEFAULTS.blockSize, oracle: 'invariants' };
const args = (file: string): string[] => ['--unseen', '--oracle', 'invariants', '--only', FAULTS.join(','), '--known-kills', file];

describe.sequential('known kills', () => {
  /** The run from case 0, as the first test records it. */
  let whole: Awaited<ReturnType<typeof mutantsCli>> = [];

  it('replays a recorded case alone, with the verdict, properties and killing case of the run from case 0', async () => {
    const file = join(dir, 'recorded.json');
    whole = await mutantsCli([...args(file), '--update-known-kills']);
    expect(whole.map((r) => [r.name, r.verdict, r.knownKill])).toStrictEqual(FAULTS.map((n) => [n, 'killed', undefined]));
    // The case the run reports as its first failing one is the case before it passed: cases counts it.
    for (const r of whole) expect(r.killingCase && r.killingCase.block * RUN.blockSize + r.killingCase.index + 1).toBe(r.cases);
    expect(whole.some((r) => (r.killingCase?.block ?? 0) > 0)).toBe(true);
    const recorded = loadKnownKills(file);
    expect(recorded.run).toStrictEqual(RUN);
    expect(recorded.kills).toStrictEqual(Object.fromEntries(whole.map((r) => [r.name, r.killingCase])));

    const replayed = await mutantsCli(args(file));
    expect(replayed.map((r) => [r.name, r.verdict, r.knownKill, r.cases])).toStrictEqual(FAULTS.map((n) => [n, 'killed', true, 1]));
    expect(replayed.map((r) => [r.properties, r.killingCase])).toStrictEqual(whole.map((r) => [r.properties, r.killingCase]));
  }, 120_000);

  it('runs the whole budget when the recorded case no longer kills (a stale entry costs time, not the verdict)', async () => {
    const file = join(dir, 'stale.json');
    expect(whole.length).toBe(FAULTS.length);
    // Case 0 of block 0 passes for both (they are first killed later).
    expect(whole.every((r) => (r.killingCase?.block ?? 0) + (r.killingCase?.index ?? 0) > 0)).toBe(true);
    writeFileSync(file, JSON.stringify({ format: 'iommufd-spec known kills 1', run: RUN, kills: Object.fromEntries(FAULTS.map((n) => [n, { profile: '7.3', block: 0, index: 0 }])) }));
    const rows = await mutantsCli(args(file));
    expect(rows.map((r) => [r.name, r.verdict, r.knownKill, r.cases, r.properties, r.killingCase])).toStrictEqual(whole.map((r) => [r.name, r.verdict, undefined, r.cases, r.properties, r.killingCase]));
  }, 120_000);

  it('refuses a malformed file, naming the field', async () => {
    const file = join(dir, 'bad.json');
    writeFileSync(file, JSON.stringify({ format: 'iommufd-spec known kills 1', run: RUN, kills: { [FAULTS[0] as string]: { profile: '7.3', block: 40, index: 0 } } }));
    expect(() => loadKnownKills(file)).toThrow(/kills\.group-revert-skips-failed-dev\.block: expected a block of the run \(0 to 39\), got 40/);
    writeFileSync(file, JSON.stringify({ format: 'iommufd-spec known kills 1', run: { ...RUN, oracle: 'some' }, kills: {} }));
    expect(() => loadKnownKills(file)).toThrow(/run\.oracle: expected full or invariants, got "some"/);
    writeFileSync(file, '{"format": "iommufd-spec known kills 1", "run": ');
    expect(() => loadKnownKills(file)).toThrow(/bad\.json: .*JSON/);
    // Through the CLI: a usage error (exit 2) with the same words.
    await expect(mutantsCli(args(file))).rejects.toThrow(/exited 2: .*--known-kills: .*bad\.json/);
    await expect(mutantsCli(args(join(dir, 'missing.json')))).rejects.toThrow(/missing\.json does not exist \(--update-known-kills writes it\)/);
  }, 60_000);

  it('an update keeps the faults a run did not run, and drops those it ran and did not kill', () => {
    const before = { run: RUN, kills: { a: { profile: '7.3' as const, block: 1, index: 2 }, b: { profile: '7.3' as const, block: 0, index: 3 } } };
    const after = updatedKnownKills(before, RUN, new Map([['b', undefined], ['c', { profile: '6.12' as const, block: 2, index: 0 }]]));
    expect(after.kills).toStrictEqual({ a: before.kills.a, c: { profile: '6.12', block: 2, index: 0 } });
    // A file of another run is not carried over.
    expect(updatedKnownKills(before, { ...RUN, seed: 2 }, new Map()).kills).toStrictEqual({});
  });

  // What each registry check asks to be killed, by the file it replays.
  const asked = [
    { file: knownKillsFile('unseen', 'invariants'), oracle: 'invariants', names: UNSEEN_FAULTS.filter((f) => !f.open).map(unseenName), all: UNSEEN_FAULTS.map(unseenName) },
    { file: knownKillsFile('catalogue', 'full'), oracle: 'full', names: MUTANTS.map((m) => m.name), all: MUTANTS.map((m) => m.name) },
    { file: knownKillsFile('catalogue', 'invariants'), oracle: 'invariants', names: MUTANTS.filter((m) => m.security).map((m) => m.name), all: MUTANTS.map((m) => m.name) },
    { file: knownKillsFile('answer-faults', 'invariants'), oracle: 'invariants', names: ANSWER_FAULTS.map((f) => f.name), all: ANSWER_FAULTS.map((f) => f.name) },
  ] as const;
  it.each(asked)('the registry check has a known kill for every fault it asks to be killed ($file)', ({ file, oracle, names, all }) => {
    const known = loadKnownKills(file);
    expect(known.run).toStrictEqual({ ...RUN, oracle });
    expect(names.filter((n) => !(n in known.kills))).toStrictEqual([]);
    // And none for a fault that is no longer registered.
    expect(Object.keys(known.kills).filter((n) => !(all as readonly string[]).includes(n))).toStrictEqual([]);
    expect(readFileSync(file, 'utf8').endsWith('\n')).toBe(true);
  });
});
