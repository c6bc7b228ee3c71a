/**
 * What the machines are made of, and how much of it a run reaches: per
 * machine its states and its transitions (edges: source, event, guard,
 * target), and which of them a set of taken edges covers. The system
 * machine's edges are its guarded refusals and dispatches per event, from
 * xstate/graph's directed graph of it.
 */
import type { Edge } from './core/compile.ts';
import { machineEdges } from './core/compile.ts';
import { OBJECT_MACHINES, stepper } from './machines/index.ts';
import { SYSTEM_GUARDS } from './system/guards.ts';
import { HANDLERS } from './system/handlers.ts';
import { systemMachine } from './system/machine.ts';

export interface MachineShape {
  readonly id: string;
  readonly title: string;
  readonly states: readonly string[];
  readonly edges: readonly Edge[];
}

let systemShape: MachineShape | undefined;

export function systemEdges(): readonly Edge[] {
  return machineShapes().find((m) => m.id === 'system')?.edges ?? [];
}

/** Every machine: the object machines, then the system machine. */
export function machineShapes(): readonly MachineShape[] {
  const objects = OBJECT_MACHINES.map((m) => {
    const c = stepper(m.def.id);
    return { id: m.def.id, title: m.def.title, states: c.states, edges: c.edges };
  });
  systemShape ??= { id: 'system', title: 'System', states: ['running'], edges: machineEdges('system', systemMachine).edges };
  return [...objects, systemShape];
}

export interface MachineCoverage {
  readonly id: string;
  readonly title: string;
  readonly states: { readonly total: number; readonly reached: readonly string[]; readonly missed: readonly string[] };
  readonly edges: { readonly total: number; readonly reached: readonly string[]; readonly missed: readonly string[] };
}

/** Coverage of taken edge keys, per machine. */
export function coverageOf(taken: ReadonlySet<string>): MachineCoverage[] {
  return machineShapes().map((m) => {
    const reachedEdges = m.edges.filter((e) => taken.has(e.key)).map((e) => e.key);
    const states = new Set<string>();
    if (m.id === 'system') {
      if (reachedEdges.length > 0) states.add('running');
    } else {
      const c = stepper(m.id);
      for (const k of reachedEdges) for (const s of c.reaches(k)) states.add(s);
    }
    return {
      id: m.id,
      title: m.title,
      states: { total: m.states.length, reached: m.states.filter((s) => states.has(s)), missed: m.states.filter((s) => !states.has(s)) },
      edges: { total: m.edges.length, reached: reachedEdges, missed: m.edges.filter((e) => !taken.has(e.key)).map((e) => e.key) },
    };
  });
}

/** Clause id → where the machines name it (edges, guards, system guards, dispatches). */
export function machineClauseRefs(): Map<string, string[]> {
  const refs = new Map<string, string[]>();
  const add = (id: string, where: string): void => {
    refs.set(id, [...(refs.get(id) ?? []), where]);
  };
  for (const m of OBJECT_MACHINES) {
    for (const e of stepper(m.def.id).edges) for (const id of e.meta.clauses ?? []) add(id, e.key);
    for (const [g, d] of Object.entries(m.def.guards)) for (const id of d.clauses ?? []) add(id, `${m.def.id}.${g}`);
  }
  for (const [g, d] of Object.entries(SYSTEM_GUARDS)) for (const id of d.clauses) add(id, `system.${g}`);
  for (const [t, h] of Object.entries(HANDLERS)) for (const id of h.clauses ?? []) add(id, `system.dispatch.${t}`);
  return refs;
}
