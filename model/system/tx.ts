/**
 * One system step in progress: the state being built, the object machine
 * transitions taken, and the ways a step ends early — a refusal (the kernel
 * must fail with an errno), an unmodelled case (the machines leave it open),
 * or a result that contradicts the machines.
 */
import type { SingleRequest, StructValue } from '../../spec/contract/types.ts';
import type { Edge, Snap, StepResult } from '../core/compile.ts';
import { stepper } from '../machines/index.ts';
import type { Fields } from './fields.ts';
import { setDev, setGroup, setObj, setVm, type Obj, type ObjKind, type System } from './state.ts';

/** What the implementation answered, as far as the machines read it. */
export interface Observed {
  readonly ok: boolean;
  readonly errno: number;
  readonly ret?: number;
  /** ioctl: the struct after the call. */
  readonly out?: StructValue;
  /** other ops: their result. */
  readonly result?: Readonly<Record<string, unknown>>;
}

/** A system event: a contract request, typed by its command, test op or op name. */
export interface SysEvent {
  readonly type: string;
  readonly req: SingleRequest;
}

export type Decision =
  | { readonly kind: 'accept' }
  | {
      readonly kind: 'refuse';
      readonly errno: string;
      /** The machine that forbids it ('system' for a cross-object or lookup rule). */
      readonly machine: string;
      /** Its state (active atomic states, or 'running' for the system). */
      readonly state: string;
      readonly event: string;
      readonly guard?: string;
      readonly clauses: readonly string[];
    }
  | { readonly kind: 'open'; readonly reason: string };

export interface StepOut {
  readonly decision: Decision;
  /** The state after the call succeeded (absent when the machines cannot follow a success). */
  readonly ok?: System;
  /** The state after the call failed with the refusal's errno (partial effects of non-atomic ioctls). */
  readonly failed?: System;
  /** Keys of the machine edges the predicted outcome takes. */
  readonly edges: readonly string[];
  /** The successful result contradicts the machines (an id already in use, an unmap length, …). */
  readonly mismatch?: string;
}

export class Refusal {
  constructor(
    readonly decision: Extract<Decision, { kind: 'refuse' }>,
    /** The state after the failure: the start state, unless the refusal is non-atomic (its transition has effects). */
    readonly sys: System | undefined,
  ) {}
}
export class Unmodelled {
  constructor(readonly reason: string) {}
}
export class Mismatch {
  constructor(readonly reason: string) {}
}

export const MACHINE_OF: { readonly [K in ObjKind]: string } = {
  ioas: 'ioas',
  hwpt_paging: 'hwpt_paging',
  hwpt_nested: 'hwpt_nested',
  device: 'device',
  selftest: 'device',
  access: 'access',
  fault: 'fault',
  viommu: 'viommu',
  vdevice: 'vdevice',
  veventq: 'veventq',
  hw_queue: 'hw_queue',
};

/** An object machine event: its type and the facts the system resolved. */
export type MachineEvent = { readonly type: string; readonly [fact: string]: unknown };

export type Target =
  | { readonly kind: 'obj'; readonly ctx: number; readonly id: number }
  | { readonly kind: 'dev'; readonly key: string }
  | { readonly kind: 'group'; readonly key: string }
  | { readonly kind: 'vm'; readonly key: number };

export interface SystemGuard {
  readonly errno: string;
  readonly clauses: readonly string[];
  readonly doc: string;
  readonly test: (tx: Tx, arg: number) => boolean;
}

export class Tx {
  sys: System;
  readonly edges: string[] = [];
  /** The iommufd context the ioctl runs in, when it is issued on one. */
  ctx = 0;
  /** The system guards the event's handler declares. */
  allowed: readonly string[] | undefined;
  constructor(
    readonly start: System,
    readonly ev: SysEvent,
    readonly f: Fields | undefined,
    readonly obs: Observed | undefined,
    readonly guards: { readonly [name: string]: SystemGuard },
  ) {
    this.sys = start;
  }

  get profile() {
    return this.sys.profile;
  }

  /** Evaluates a system guard (on an id, an fd or a number of the request); when it holds, the step is refused. */
  guard(name: string, arg = 0): void {
    const g = this.guards[name];
    if (!g) throw new Error(`unknown system guard ${name}`);
    if (this.allowed && !this.allowed.includes(name)) throw new Error(`${this.ev.type} uses system guard ${name} it does not declare`);
    if (!g.test(this, arg)) return;
    this.edges.push(`system|running|${this.ev.type}|${name}|running`);
    throw new Refusal({ kind: 'refuse', errno: g.errno, machine: 'system', state: 'running', event: this.ev.type, guard: name, clauses: g.clauses }, undefined);
  }

  snapOf(t: Target): { machine: string; snap: Snap } | undefined {
    switch (t.kind) {
      case 'obj': {
        const o = this.sys.ctxs[t.ctx]?.objects[t.id];
        return o?.snap ? { machine: MACHINE_OF[o.kind], snap: o.snap } : undefined;
      }
      case 'dev': {
        const d = this.sys.devs[t.key];
        return d ? { machine: 'device', snap: d.snap } : undefined;
      }
      case 'group': {
        const g = this.sys.groups[t.key];
        return g ? { machine: 'group', snap: g.snap } : undefined;
      }
      case 'vm': {
        const v = this.sys.vms[t.key];
        return v ? { machine: 'kvm', snap: v.snap } : undefined;
      }
    }
  }

  private put(t: Target, snap: Snap): void {
    const s = this.sys;
    switch (t.kind) {
      case 'obj':
        this.sys = setObj(s, t.ctx, t.id, { ...(s.ctxs[t.ctx]?.objects[t.id] as Obj), snap });
        return;
      case 'dev':
        this.sys = setDev(s, { ...s.devs[t.key]!, snap });
        return;
      case 'group':
        this.sys = setGroup(s, { ...s.groups[t.key]!, snap });
        return;
      case 'vm':
        this.sys = setVm(s, { ...s.vms[t.key]!, snap });
        return;
    }
  }

  /**
   * Steps the machine of `t` with `event`. A refusal ends the step (with the
   * refused transition's own effects kept for a non-atomic failure); an event
   * the machine does not handle in its state ends the step as unmodelled when
   * `primary`, and is ignored otherwise (a dependant that does not care).
   */
  step(t: Target, event: MachineEvent, primary = true): StepResult<unknown> | undefined {
    const cur = this.snapOf(t);
    if (!cur) {
      if (primary) throw new Unmodelled(`no machine for ${JSON.stringify(t)}`);
      return undefined;
    }
    const m = stepper(cur.machine);
    const r = m.step(cur.snap, event);
    if (!r) {
      if (primary) throw new Unmodelled(`${cur.machine} in ${m.leaves(cur.snap).join(', ')} has no transition on ${event.type}`);
      return undefined;
    }
    for (const e of r.edges) this.edges.push(e.key);
    this.put(t, r.snap);
    if (r.refuse) throw new Refusal(refusalOf(cur.machine, m.leaves(cur.snap).join(','), event.type, r.refuse), r.refuse.effects ? this.sys : undefined);
    return r;
  }

  /** A new object machine in its initial state, stepped with its creation event. */
  create(machine: string, event: MachineEvent): Snap {
    const m = stepper(machine);
    const r = m.step(m.initial, event);
    if (!r) throw new Unmodelled(`${machine} cannot be created by ${event.type}`);
    for (const e of r.edges) this.edges.push(e.key);
    if (r.refuse) throw new Refusal(refusalOf(machine, 'absent', event.type, r.refuse), undefined);
    return r.snap;
  }

  isFinal(t: Target): boolean {
    const cur = this.snapOf(t);
    return cur ? stepper(cur.machine).isFinal(cur.snap) : true;
  }

  inState(t: Target, path: string): boolean {
    const cur = this.snapOf(t);
    return cur ? stepper(cur.machine).matches(cur.snap, path) : false;
  }

  /** An observed number at a dotted path of the result struct (ioctl) or result (other ops). */
  observed(path: string): number | bigint | undefined {
    if (!this.obs?.ok) return undefined;
    let v: unknown = this.ev.req.op === 'ioctl' ? this.obs.out : this.obs.result;
    for (const part of splitPath(path)) {
      if (typeof v !== 'object' || v === null) return undefined;
      v = (v as Record<string, unknown>)[part];
    }
    return typeof v === 'number' || typeof v === 'bigint' ? v : undefined;
  }
}

const paths = new Map<string, readonly string[]>();
function splitPath(path: string): readonly string[] {
  let p = paths.get(path);
  if (!p) {
    p = path.split('.');
    paths.set(path, p);
  }
  return p;
}

function refusalOf(machine: string, state: string, event: string, edge: Edge): Extract<Decision, { kind: 'refuse' }> {
  return { kind: 'refuse', errno: edge.meta.refuse as string, machine, state, event, ...(edge.guard ? { guard: edge.guard } : {}), clauses: edge.meta.clauses ?? [] };
}
