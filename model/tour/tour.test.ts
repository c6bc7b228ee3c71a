/**
 * The tour reaches every machine edge: each edge (machine, source, event,
 * guard, target) is on the 6.12 or the 7.3 tour, or listed in UNREACHABLE
 * with its reason — and nothing listed there is reached (the list cannot go
 * stale). Every tour path replays through the system machine taking the edge
 * it was chosen for.
 */
import { describe, expect } from 'vitest';
import { check } from '../../spec/clauses/check.ts';
import { machineShapes } from '../coverage.ts';
import { buildTour, edgesAlong, SCENARIOS, UNREACHABLE } from './tour.ts';

describe('the transition tour', () => {
  check(
    'machines.tour.reaches-every-edge',
    () => {
      const t612 = buildTour('6.12');
      const t73 = buildTour('7.3');
      const all = machineShapes().flatMap((m) => m.edges.map((e) => e.key));
      expect(all.length).toBeGreaterThan(400);
      const missed = all.filter((e) => !t612.reached.has(e) && !t73.reached.has(e) && !(e in UNREACHABLE));
      expect(missed, 'edges neither toured nor listed as unreachable').toEqual([]);
      const stale = Object.keys(UNREACHABLE).filter((e) => t612.reached.has(e) || t73.reached.has(e) || !all.includes(e));
      expect(stale, 'UNREACHABLE entries that are reached or are no edge').toEqual([]);
      for (const t of [t612, t73]) {
        for (const p of t.paths) {
          const spec = SCENARIOS.find((s) => s.name === p.scenario);
          if (!spec) throw new Error(`no scenario ${p.scenario}`);
          const taken = edgesAlong(t.profile, spec, p.events);
          for (const e of p.targets) expect(taken.has(e), `${t.profile} ${p.scenario}: ${e}`).toBe(true);
        }
      }
    },
    900_000,
  );
});
