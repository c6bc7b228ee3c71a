/**
 * The compiled form of an object machine: a pure, allocation-light step over
 * the machine's own XState state-node tree (the same TransitionDefinition
 * objects, guards and actions XState uses), so that one step costs well under
 * a microsecond instead of the tens of microseconds of xstate's `transition()`.
 *
 * It implements the statechart subset the object machines use — compound and
 * parallel states, final states, guarded external and targetless transitions
 * with actions, SCXML transition selection (deepest state first, document
 * order, conflicting transitions resolved as SCXML's
 * removeConflictingTransitions does) — and nothing else (no entry/exit
 * actions, eventless or delayed transitions, history, invoked or spawned
 * actors). compile.test.ts checks it against xstate's `transition()` on random
 * event sequences for every machine.
 */
import { toDirectedGraph, type DirectedGraphNode } from 'xstate/graph';
import type { AnyStateMachine, StateNode, StateValue } from 'xstate';
import type { ObjectMachine, TransitionMeta } from './define.ts';

type AnyNode = StateNode<never, never>;
// The parts of XState's TransitionDefinition the stepper reads.
interface TransitionDef {
  readonly eventType: string;
  readonly source: AnyNode;
  readonly target?: readonly AnyNode[];
  readonly guard?: unknown;
  readonly actions: readonly unknown[];
  readonly meta?: TransitionMeta;
}

/** One transition of a machine: an edge (source, event, guard, target) of its chart. */
export interface Edge {
  /** Stable key: machine|source|event|guard|target (plus #n when several share it). */
  readonly key: string;
  readonly machine: string;
  /** State node path relative to the machine root, '' = the root. */
  readonly source: string;
  readonly event: string;
  readonly guard?: string;
  readonly target: string;
  readonly meta: TransitionMeta;
  /** The transition has actions (a refusal with actions is a non-atomic failure: its effects stay). */
  readonly effects: boolean;
}

/** A machine snapshot: the active atomic states (ids, document order) and the context. */
export interface Snap<C = unknown> {
  readonly s: readonly string[];
  readonly c: C;
}

export interface StepResult<C> {
  readonly snap: Snap<C>;
  /** The transitions taken (one per region that reacted). */
  readonly edges: readonly Edge[];
  /** Set when a taken transition forbids the event (meta.refuse). */
  readonly refuse?: Edge;
}

interface Candidate {
  readonly def: TransitionDef;
  readonly edge: Edge;
  readonly guard: ((c: unknown, e: unknown) => boolean) | undefined;
  readonly actions: readonly ((c: unknown, e: unknown) => unknown)[];
  /** Targeted transitions: the transition domain's id prefix and the atomic states entered (ids). */
  readonly domainPrefix?: string;
  readonly entry?: readonly string[];
}

interface NodeInfo {
  readonly node: AnyNode;
  readonly id: string;
  readonly order: number;
  /** Event type → candidate transitions, deepest state first, then document order. */
  readonly on: Map<string, readonly Candidate[]>;
}

export interface CompiledMachine<C = unknown> {
  readonly id: string;
  readonly machine: AnyStateMachine;
  readonly edges: readonly Edge[];
  /** Every state node path ('' excluded), document order. */
  readonly states: readonly string[];
  readonly initial: Snap<C>;
  /** Event types some state handles. */
  readonly eventTypes: ReadonlySet<string>;
  step(snap: Snap<C>, event: { readonly type: string }): StepResult<C> | undefined;
  /** The XState state value of a snapshot (for comparisons with XState). */
  value(snap: Snap<C>): StateValue;
  /** Whether the snapshot is in (or below) the state at this relative path. */
  matches(snap: Snap<C>, path: string): boolean;
  /** Relative paths of the active atomic states. */
  leaves(snap: Snap<C>): string[];
  /** The snapshot is in a top-level final state (the object is gone). */
  isFinal(snap: Snap<C>): boolean;
  /** Relative paths of the states a transition (by edge key) ends in: its target, the target's ancestors and the atomic states it enters. */
  reaches(edgeKey: string): readonly string[];
}

function relPath(node: AnyNode): string {
  return node.path.join('.');
}

function guardName(g: unknown): string | undefined {
  if (g === undefined) return undefined;
  if (typeof g === 'string') return g;
  if (typeof g === 'object' && g !== null && typeof (g as { type?: unknown }).type === 'string') return (g as { type: string }).type;
  throw new Error('object machines use named guards only');
}

function actionNames(actions: readonly unknown[]): string[] {
  return actions.map((a) => {
    if (typeof a === 'string') return a;
    if (typeof a === 'object' && a !== null && typeof (a as { type?: unknown }).type === 'string') return (a as { type: string }).type;
    throw new Error('object machines use named actions only');
  });
}

function allNodes(root: AnyNode): AnyNode[] {
  const out: AnyNode[] = [];
  const walk = (n: AnyNode): void => {
    out.push(n);
    for (const child of Object.values(n.states) as AnyNode[]) walk(child);
  };
  walk(root);
  return out;
}

/** Every edge of the machine, from xstate/graph's directed graph of it. */
export function machineEdges(machineId: string, machine: AnyStateMachine): { edges: Edge[]; byDef: Map<unknown, Edge> } {
  const edges: Edge[] = [];
  const byDef = new Map<unknown, Edge>();
  const seen = new Map<string, number>();
  const walk = (g: DirectedGraphNode): void => {
    for (const e of g.edges) {
      const t = e.transition as unknown as TransitionDef;
      const source = relPath(e.source as unknown as AnyNode);
      const target = relPath(e.target as unknown as AnyNode);
      const guard = guardName(t.guard);
      const base = `${machineId}|${source}|${t.eventType}|${guard ?? ''}|${target}`;
      const n = seen.get(base) ?? 0;
      seen.set(base, n + 1);
      const edge: Edge = { key: n === 0 ? base : `${base}#${n}`, machine: machineId, source, event: t.eventType, target, meta: t.meta ?? {}, effects: t.actions.length > 0, ...(guard ? { guard } : {}) };
      edges.push(edge);
      byDef.set(t, edge);
    }
    for (const child of g.children) walk(child);
  };
  walk(toDirectedGraph(machine));
  return { edges, byDef };
}

function isDescendant(a: AnyNode, b: AnyNode): boolean {
  return a.id.startsWith(b.id + '.');
}

function initialLeaves(n: AnyNode): AnyNode[] {
  if (n.type === 'atomic' || n.type === 'final') return [n];
  if (n.type === 'parallel') return (Object.values(n.states) as AnyNode[]).flatMap(initialLeaves);
  const init = (n.initial as { target: readonly AnyNode[] } | undefined)?.target?.[0];
  if (!init) throw new Error(`state ${n.id} has no initial state`);
  return initialLeaves(init);
}

/** SCXML transition domain: the source for an internal transition to a descendant, else the least common compound ancestor. */
function domainOf(t: TransitionDef): AnyNode | undefined {
  const target = t.target?.[0];
  if (!target) return undefined;
  const src = t.source;
  if (src.type === 'compound' && isDescendant(target, src)) return src;
  let a: AnyNode | undefined = src.parent as AnyNode | undefined;
  while (a) {
    if ((a.type === 'compound' || a.parent === undefined) && isDescendant(src, a) && (isDescendant(target, a) || target === a)) return a;
    a = a.parent as AnyNode | undefined;
  }
  throw new Error(`no transition domain for ${src.id} -> ${target.id}`);
}

function entryLeaves(domain: AnyNode, target: AnyNode): AnyNode[] {
  const path: AnyNode[] = [];
  for (let n: AnyNode | undefined = target; n && n !== domain; n = n.parent as AnyNode | undefined) path.unshift(n);
  const out: AnyNode[] = [];
  for (let i = 0; i < path.length - 1; i++) {
    const n = path[i] as AnyNode;
    if (n.type !== 'parallel') continue;
    const next = path[i + 1];
    for (const region of Object.values(n.states) as AnyNode[]) if (region !== next) out.push(...initialLeaves(region));
  }
  out.push(...initialLeaves(target));
  return out;
}

export function compileMachine<C>(om: ObjectMachine): CompiledMachine<C> {
  const { def, machine } = om;
  const root = machine.root as unknown as AnyNode;
  const nodes = allNodes(root);
  const { edges, byDef } = machineEdges(def.id, machine);
  const guardFns = def.guards as { [k: string]: { fn: (c: unknown, e: unknown) => boolean } };
  const actionFns = (def.actions ?? {}) as { [k: string]: (c: unknown, e: unknown) => unknown };

  const orderOf = new Map(nodes.map((n, i) => [n.id, i]));
  const candidate = (t: TransitionDef): Candidate => {
    const edge = byDef.get(t);
    if (!edge) throw new Error(`${def.id}: transition ${t.source.id} on ${t.eventType} is not in the directed graph`);
    const g = guardName(t.guard);
    const guard = g === undefined ? undefined : guardFns[g]?.fn;
    if (g !== undefined && !guard) throw new Error(`${def.id}: unknown guard ${g}`);
    const actions = actionNames(t.actions).map((name) => {
      const fn = actionFns[name];
      if (!fn) throw new Error(`${def.id}: unknown action ${name}`);
      return fn;
    });
    const target = t.target?.[0];
    if (!target) return { def: t, edge, guard, actions };
    const d = domainOf(t) as AnyNode;
    const entry = entryLeaves(d, target)
      .map((n) => n.id)
      .sort((a, b) => (orderOf.get(a) as number) - (orderOf.get(b) as number));
    return { def: t, edge, guard, actions, domainPrefix: d.id + '.', entry };
  };

  const infos = new Map<string, NodeInfo>();
  nodes.forEach((node, order) => {
    const on = new Map<string, Candidate[]>();
    // Deepest first: this node's transitions, then each ancestor's.
    for (let n: AnyNode | undefined = node; n; n = n.parent as AnyNode | undefined) {
      for (const [type, list] of n.transitions as Map<string, readonly TransitionDef[]>) {
        const arr = on.get(type) ?? [];
        for (const t of list) arr.push(candidate(t));
        on.set(type, arr);
      }
    }
    infos.set(node.id, { node, id: node.id, order, on });
  });
  const eventTypes = new Set<string>();
  for (const n of nodes) for (const type of (n.transitions as Map<string, unknown>).keys()) eventTypes.add(type);

  const info = (id: string): NodeInfo => {
    const i = infos.get(id);
    if (!i) throw new Error(`${def.id}: unknown state ${id}`);
    return i;
  };
  const sortIds = (ids: string[]): string[] => ids.sort((a, b) => info(a).order - info(b).order);

  const initial: Snap<C> = { s: sortIds(initialLeaves(root).map((n) => n.id)), c: def.context as C };

  const exitSet = (leaves: readonly string[], c: Candidate): string[] => {
    const p = c.domainPrefix;
    return p === undefined ? [] : leaves.filter((id) => id.startsWith(p));
  };

  const apply = (snap: Snap<C>, event: { readonly type: string }, cand: Candidate): StepResult<C> => {
    let context: unknown = snap.c;
    for (const a of cand.actions) context = a(context, event);
    let leaves = snap.s;
    const p = cand.domainPrefix;
    if (p !== undefined) {
      const entry = cand.entry as readonly string[];
      leaves = snap.s.length === 1 ? entry : sortIds([...snap.s.filter((id) => !id.startsWith(p)), ...entry]);
    }
    return { snap: leaves === snap.s && context === snap.c ? snap : { s: leaves, c: context as C }, edges: [cand.edge], ...(cand.edge.meta.refuse ? { refuse: cand.edge } : {}) };
  };

  const step = (snap: Snap<C>, event: { readonly type: string }): StepResult<C> | undefined => {
    if (snap.s.length === 1) {
      // One active atomic state (every machine but the parallel ones): the first enabled candidate.
      const cands = info(snap.s[0] as string).on.get(event.type);
      if (!cands) return undefined;
      for (const cand of cands) if (!cand.guard || cand.guard(snap.c, event)) return apply(snap, event, cand);
      return undefined;
    }
    // Select: per active atomic state, the first enabled candidate.
    const selected: Candidate[] = [];
    for (const leaf of snap.s) {
      const cands = info(leaf).on.get(event.type);
      if (!cands) continue;
      for (const cand of cands) {
        if (cand.guard && !cand.guard(snap.c, event)) continue;
        if (!selected.includes(cand)) selected.push(cand);
        break;
      }
    }
    if (selected.length === 0) return undefined;
    let chosen = selected;
    if (selected.length > 1) {
      // SCXML removeConflictingTransitions.
      const filtered: Candidate[] = [];
      for (const t1 of selected) {
        const x1 = exitSet(snap.s, t1);
        let preempted = false;
        const remove: Candidate[] = [];
        for (const t2 of filtered) {
          const x2 = exitSet(snap.s, t2);
          if (!x1.some((id) => x2.includes(id))) continue;
          if (isDescendant(t1.def.source, t2.def.source)) remove.push(t2);
          else {
            preempted = true;
            break;
          }
        }
        if (preempted) continue;
        for (const r of remove) filtered.splice(filtered.indexOf(r), 1);
        filtered.push(t1);
      }
      chosen = filtered;
    }
    let leaves: readonly string[] = snap.s;
    let context: unknown = snap.c;
    let refuse: Edge | undefined;
    for (const cand of chosen) {
      for (const a of cand.actions) context = a(context, event);
      const p = cand.domainPrefix;
      if (p !== undefined) leaves = sortIds([...leaves.filter((id) => !id.startsWith(p)), ...(cand.entry as readonly string[])]);
      if (!refuse && cand.edge.meta.refuse) refuse = cand.edge;
    }
    return { snap: { s: leaves, c: context as C }, edges: chosen.map((c) => c.edge), ...(refuse ? { refuse } : {}) };
  };

  const value = (snap: Snap<C>): StateValue => {
    // Rebuild XState's nested state value from the active atomic states.
    const build = (n: AnyNode): StateValue => {
      const children = Object.values(n.states) as AnyNode[];
      if (n.type === 'parallel') {
        const v: Record<string, StateValue> = {};
        for (const c of children) v[c.key] = build(c);
        return v;
      }
      const active = children.find((c) => snap.s.some((id) => id === c.id || id.startsWith(c.id + '.')));
      if (!active) throw new Error(`${def.id}: no active child of ${n.id}`);
      if (active.type === 'atomic' || active.type === 'final') return active.key;
      return { [active.key]: build(active) };
    };
    return build(root);
  };

  const states = nodes.filter((n) => n !== root).map(relPath);
  const reached = new Map<string, readonly string[]>();
  for (const info of infos.values()) {
    for (const cands of info.on.values()) {
      for (const c of cands) {
        if (reached.has(c.edge.key)) continue;
        const set = new Set<string>();
        const addUp = (n: AnyNode | undefined): void => {
          for (let x = n; x && x !== root; x = x.parent as AnyNode | undefined) set.add(relPath(x));
        };
        addUp(c.def.source);
        addUp(c.def.target?.[0]);
        for (const id of c.entry ?? []) addUp(infos.get(id)?.node);
        reached.set(c.edge.key, [...set]);
      }
    }
  }
  const finals = new Set(nodes.filter((n) => n.type === 'final' && n.parent === root).map((n) => n.id));
  return {
    id: def.id,
    machine,
    edges,
    states,
    initial,
    eventTypes,
    step,
    value,
    matches: (snap, path) => snap.s.some((id) => {
      const rel = relPath(info(id).node);
      return rel === path || rel.startsWith(path + '.');
    }),
    leaves: (snap) => snap.s.map((id) => relPath(info(id).node)),
    isFinal: (snap) => snap.s.length === 1 && finals.has(snap.s[0] as string),
    reaches: (key) => reached.get(key) ?? [],
  };
}
