/**
 * The machines are complete over the uAPI: every command, test op and
 * environment op of the spec data is either an event of some machine (it can
 * change lifecycle state) or a named observation; every lifecycle clause is
 * implemented by a machine guard or transition, every clause a machine names
 * exists, and every refusal a machine makes is backed by a clause that lists
 * its errno for that event.
 */
import { describe, expect } from 'vitest';
import { check } from '../spec/clauses/check.ts';
import { clauseFiles } from '../spec/clauses/registry.ts';
import { COMMANDS, TEST_OPS } from '../spec/uapi/index.ts';
import { ENVIRONMENT_OPS } from '../spec/contract/ops.ts';
import { ALL_CLAUSES, CLAUSE_MODULES, clauseEvents } from './decided.ts';
import { allSteppers, OBJECT_MACHINES } from './machines/index.ts';
import { SYSTEM_GUARDS } from './system/guards.ts';
import { HANDLERS, OBSERVATIONS } from './system/handlers.ts';
import { machineClauseRefs } from './coverage.ts';

describe('completeness', () => {
  check('machines.complete-over-uapi', () => {
    const names = new Set<string>([
      ...COMMANDS.filter((c) => c.name !== 'IOMMU_TEST_CMD').map((c) => c.name),
      ...TEST_OPS.map((t) => t.name),
      ...ENVIRONMENT_OPS.filter((op) => op !== 'ioctl'),
    ]);
    const missing = [...names].filter((n) => !HANDLERS[n] && !OBSERVATIONS[n]).sort();
    expect(missing, 'neither an event of a machine nor a named observation').toEqual([]);
    // Every handled event reaches a machine: an object machine handles it, or the system machine's dispatch does.
    const objectEvents = new Set(allSteppers().flatMap((m) => [...m.eventTypes]));
    const systemOnly = Object.keys(HANDLERS).filter((t) => !objectEvents.has(t));
    // These change the system's own state (fds, files, contexts, compat IOAS, the fault-injection switch, a session reset) or only look objects up.
    expect(systemOnly.sort()).toEqual(
      [
        'IOMMU_GET_HW_INFO',
        'IOMMU_IOAS_ALLOW_IOVAS',
        'IOMMU_IOAS_IOVA_RANGES',
        'IOMMU_IOAS_NOIOMMU_GET_PA',
        'IOMMU_TEST_OP_ADD_RESERVED',
        'IOMMU_VFIO_IOAS',
        'VFIO_IOMMU_GET_INFO',
        'fail_nth',
        'kvm_state',
        'open',
        'open_device',
        'reset',
      ].sort(),
    );
    // And every event an object machine names is one the system dispatches (or a role it sends).
    const dispatched = new Set(Object.keys(HANDLERS));
    for (const m of OBJECT_MACHINES) for (const e of m.def.events) expect(dispatched.has(e) || e === 'read' || e === 'write', `${m.def.id}: ${e}`).toBe(true);
  });

  check('machines.clauses-both-ways', () => {
    expect(CLAUSE_MODULES.map((m) => m.file).sort()).toEqual(clauseFiles());
    const ids = new Set(ALL_CLAUSES.map((c) => c.id));
    const refs = machineClauseRefs();
    const unknown = [...refs.keys()].filter((id) => !ids.has(id));
    expect(unknown, 'clauses a machine names that do not exist').toEqual([]);
    const lifecycle = ALL_CLAUSES.filter((c) => c.kind === 'lifecycle');
    expect(lifecycle.length).toBeGreaterThan(60);
    const unmapped = lifecycle.filter((c) => !refs.has(c.id)).map((c) => c.id);
    expect(unmapped, 'lifecycle clauses no guard or transition implements').toEqual([]);
    const noDecides = lifecycle.filter((c) => c.decides === undefined).map((c) => c.id);
    expect(noDecides, 'lifecycle clauses that do not list the errnos they decide').toEqual([]);
  });

  check('machines.refusals-backed-by-clauses', () => {
    const byId = new Map(ALL_CLAUSES.map((c) => [c.id, c]));
    const covers = (clauseId: string, event: string, errno: string): boolean => {
      const c = byId.get(clauseId);
      if (!c) return false;
      const decides = c.decides ?? (c.errno ? [c.errno] : []);
      if (!decides.includes(errno)) return false;
      const ev = clauseEvents(c);
      return ev === undefined || (ev === 'test-ops' ? event.startsWith('IOMMU_TEST_OP_') : ev.includes(event));
    };
    const bad: string[] = [];
    for (const m of allSteppers()) {
      for (const e of m.edges) {
        if (!e.meta.refuse) continue;
        if (!(e.meta.clauses ?? []).some((id) => covers(id, e.event, e.meta.refuse as string))) bad.push(`${e.key} (${e.meta.refuse}; ${(e.meta.clauses ?? []).join(', ')})`);
      }
    }
    for (const [type, h] of Object.entries(HANDLERS)) {
      for (const g of h.guards) {
        const sg = SYSTEM_GUARDS[g];
        if (!sg) continue;
        if (!sg.clauses.some((id) => covers(id, type, sg.errno))) bad.push(`system ${type} [${g}] (${sg.errno}; ${sg.clauses.join(', ')})`);
      }
    }
    expect(bad).toEqual([]);
  });
});
