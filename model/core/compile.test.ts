/**
 * The compiled stepper against XState itself: on random event sequences, every
 * object machine's compiled step and xstate's pure `transition()` reach the
 * same state value and context.
 */
import { describe, expect } from 'vitest';
import fc from 'fast-check';
import { initialTransition, transition, type AnyMachineSnapshot } from 'xstate';
import { check } from '../../spec/clauses/check.ts';
import { OBJECT_MACHINES, stepper } from '../machines/index.ts';

const ROLES = ['self', 'old', 'target', 'created', 'file', 'release', 'device', 'idev', 'stdev', 'src', 'dst', 'hw_queue', 'detach'] as const;

/** One event of any machine: every fact a machine may read, drawn at random (extra facts are ignored). */
function eventArb(types: readonly string[]) {
  const range = fc.tuple(fc.integer({ min: 0, max: 7 }), fc.integer({ min: 0, max: 3 })).map(([s, l]) => ({ start: BigInt(s) * 0x1000n, last: BigInt(s + l) * 0x1000n + 0xfffn }));
  return fc.record({
    type: fc.constantFrom(...types),
    role: fc.constantFrom(...ROLES),
    users: fc.integer({ min: 0, max: 2 }),
    lastUser: fc.boolean(),
    flags: fc.record({
      nestParent: fc.boolean(),
      dirty: fc.boolean(),
      pasid: fc.boolean(),
      fault: fc.boolean(),
      deviceDirty: fc.boolean(),
      parentAuto: fc.boolean(),
      parentNestParent: fc.boolean(),
      sameIommu: fc.boolean(),
      compat: fc.boolean(),
      matches: fc.boolean(),
      fileOpen: fc.boolean(),
      ownedElsewhere: fc.boolean(),
      callerAttached: fc.boolean(),
      otherHwpt: fc.boolean(),
      attached: fc.boolean(),
      deviceHasVdevice: fc.boolean(),
      virtIdTaken: fc.boolean(),
      otherIommu: fc.boolean(),
      indexTaken: fc.boolean(),
      previousMissing: fc.boolean(),
      indexOutOfRange: fc.boolean(),
      typeTaken: fc.boolean(),
      vfio: fc.boolean(),
      registered: fc.boolean(),
      coherent: fc.boolean(),
      all: fc.boolean(),
      file: fc.boolean(),
      set: fc.boolean(),
      disable: fc.boolean(),
      enable: fc.boolean(),
      drained: fc.boolean(),
    }),
    profile: fc.constantFrom('6.12', '7.3'),
    kind: fc.constantFrom('auto', 'paging', 'nested'),
    from: fc.constantFrom('paging', 'viommu'),
    pasidNo: fc.option(fc.constantFrom(1, 2, 100), { nil: undefined }),
    item: fc.integer({ min: 0, max: 3 }),
    domains: fc.integer({ min: 0, max: 2 }),
    groups: fc.integer({ min: 0, max: 2 }),
    answers: fc.integer({ min: 0, max: 2 }),
    range,
    removed: fc.array(range, { maxLength: 2 }),
  }).map(({ flags, range: r, pasidNo, ...rest }) => ({ ...rest, ...flags, ...r, pasid: rest.type.includes('PASID') || pasidNo === undefined ? (pasidNo ?? 1) : pasidNo, removed: rest.removed }));
}

describe('compiled object machines', () => {
  check('machines.compiled-matches-xstate', () => {
    for (const om of OBJECT_MACHINES) {
      const m = stepper(om.def.id);
      const types = [...om.def.events];
      fc.assert(
        fc.property(fc.array(eventArb(types), { maxLength: 25 }), (events) => {
          let [x] = initialTransition(om.machine) as [AnyMachineSnapshot, unknown];
          let s = m.initial;
          for (const ev of events) {
            const e = om.def.id === 'device' && !ev.type.includes('PASID') && ev.type !== 'VFIO_DEVICE_ATTACH_IOMMUFD_PT' && ev.type !== 'VFIO_DEVICE_DETACH_IOMMUFD_PT' ? { ...ev, pasid: undefined } : ev;
            [x] = transition(om.machine, x, e as never) as [AnyMachineSnapshot, unknown];
            const r = m.step(s, e);
            if (r) s = r.snap;
            expect(m.value(s), `${om.def.id} after ${e.type}`).toEqual(x.value);
            expect(s.c, `${om.def.id} context after ${e.type}`).toEqual(x.context);
          }
        }),
        { seed: 0x5eed, numRuns: 150 },
      );
    }
  });

  check('machines.every-guard-used', () => {
    for (const om of OBJECT_MACHINES) {
      const used = new Set(stepper(om.def.id).edges.map((e) => e.guard).filter((g): g is string => g !== undefined));
      expect(Object.keys(om.def.guards).filter((g) => !used.has(g)), om.def.id).toEqual([]);
    }
  });
});
