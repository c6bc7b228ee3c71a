/**
 * Single lies (lies.ts) against the invariants alone, at a pinned seed, as
 * `iommufd-spec mutants --lies` measures them: the honest reference gives no
 * false alarm under any of them, every kind is told in enough cases to mean
 * something, and every kind the invariants are held to is caught in at least
 * three of four cases it was told in (the measure at this seed: 1114 of 1141
 * held lies, 97.6%; the weakest, 93%, a DMA or a range of IOVA_RANGES
 * answered wrong where nothing later looks again, and an automatic IOVA
 * answered a page off for an area that an unmap-all removes before any
 * device or exact unmap looks at it — nothing can show the lie then). The
 * lies were drawn, not written against a rule: rules came out of the
 * measures (FILES.OPEN_UNTIL_CLOSED, also for the files the end-of-case
 * checks open; a new VM's coherency; the end-of-case unmap of each area;
 * DISPATCH.INPUTS_COME_BACK, also for an option SET's val64; OBJECTS.LOWEST_FREE_ID
 * in the fresh contexts of the end-of-case checks, and for an id that names
 * a live object or is 0).
 */
import { describe, expect } from 'vitest';
import { check } from '../../spec/clauses/check.ts';
import { LIES } from './lies.ts';
import { runLies } from './lies-run.ts';

/** Cases per kind: at this budget every kind is told at least MIN_TOLD times (KVM's state, the rarest answer, 11). */
const RUNS = 80;
const MIN_TOLD = 10;
const HELD_RATE = 0.75;

describe('single lies, drawn rather than written', () => {
  check('mutants.lies.held-caught', async () => {
    const rows = await runLies({ seed: 7, runs: RUNS });
    expect(rows.map((r) => r.name)).toStrictEqual(LIES.map((l) => l.name));
    expect(rows.filter((r) => r.falseAlarms > 0).map((r) => `${r.name}: ${r.falseAlarms} false alarm(s)`)).toStrictEqual([]);
    expect(rows.filter((r) => r.told < MIN_TOLD).map((r) => `${r.name}: told in ${r.told} of ${r.cases} cases`)).toStrictEqual([]);
    const weak = rows.filter((r) => r.held && r.rate < HELD_RATE).map((r) => `${r.name}: caught ${r.caught} of ${r.told} (missed in ${JSON.stringify(r.missed)})`);
    expect(weak).toStrictEqual([]);
    // What catches them is the invariants, not the protocol checks (a lie that broke the protocol would be malformed).
    expect(rows.flatMap((r) => Object.keys(r.properties)).filter((p) => !p.startsWith('invariants.'))).toStrictEqual([]);
  }, 600_000);
});

describe('lies the invariants see every time they are told', () => {
  check('mutants.lies.caught-every-time', async () => {
    // Each of these lies went unseen in some cases until a rule judged the answer: a close made by
    // an end-of-case check itself (FILES.OPEN_UNTIL_CLOSED), the ids of the fresh contexts those
    // checks open (OBJECTS.LOWEST_FREE_ID), an IOMMU_OPTION SET's val64 (DISPATCH.INPUTS_COME_BACK).
    // Taking any of those rules out leaves one of them missed at this seed (tried).
    const rows = await runLies({ only: ['close-answers-ebadf', 'new-id-off-by-one', 'out-value-changed'], seed: 3, runs: 40 });
    expect(rows.map((r) => r.name).sort()).toStrictEqual(['close-answers-ebadf', 'new-id-off-by-one', 'out-value-changed']);
    for (const r of rows) {
      expect(r.told, r.name).toBeGreaterThanOrEqual(30);
      expect({ name: r.name, missed: r.missed, falseAlarms: r.falseAlarms }).toStrictEqual({ name: r.name, missed: {}, falseAlarms: 0 });
    }
  }, 600_000);
});
