/**
 * The system machine: composes the object machines. Its context is the whole
 * system state (every object's snapshot and the relations between them); each
 * event — a contract request, typed by its ioctl command, test op or op name —
 * is decided by the system guards (cross-object rules, in the kernel's check
 * order) and then by the machines of the objects it touches, which advance by
 * their compiled pure steps. No actor is spawned or invoked, so xstate/graph
 * can traverse it.
 *
 * Two forms, one logic: `systemMachine` is an XState v5 machine (one state,
 * `running`, a guarded self-transition per system guard and event, and a
 * dispatch transition), and `systemLogic` is the same step as a bare
 * ActorLogic for fast traversal. `decide` is the step both call.
 */
import { assign, setup, type ActorLogic, type AnyStateMachine, type EventObject } from 'xstate';
import type { SingleRequest } from '../../spec/contract/types.ts';
import type { Profile } from '../../spec/uapi/profiles.ts';
import { eventTypeOf, fieldsOf } from './fields.ts';
import { SYSTEM_GUARDS } from './guards.ts';
import { HANDLERS, OBSERVATIONS, handlerOf } from './handlers.ts';
import { beginDraft, emptySystem, endDraft, type IommuInfo, type System } from './state.ts';
import { Mismatch, Refusal, Tx, Unmodelled, type Observed, type StepOut, type SysEvent } from './tx.ts';

export function toSysEvent(profile: Profile, req: SingleRequest): SysEvent {
  return { type: eventTypeOf(profile, req), req };
}

/** Decides one event in a state: the machines' verdict, and the states after success and after the predicted failure. */
export function decide(sys: System, ev: SysEvent, obs?: Observed): StepOut {
  const handler = handlerOf(ev.type);
  if (!handler) {
    const why = OBSERVATIONS[ev.type];
    return { decision: { kind: 'open', reason: why ? `observation: ${why}` : `the machines do not model ${ev.type}` }, ok: sys, edges: [] };
  }
  const r = ev.req;
  const f = r.op === 'ioctl' && typeof r.cmd === 'string' ? fieldsOf(sys.profile, r.cmd, r.arg) : undefined;
  const base = sys.failNth && r.op === 'ioctl' ? { ...sys, failNth: false } : sys;
  const tx = new Tx(base, ev, f, obs?.ok ? obs : undefined, SYSTEM_GUARDS);
  tx.allowed = handler.guards;
  const dispatch = `system|running|${ev.type}||running`;
  beginDraft();
  try {
    handler.run(tx);
    tx.edges.unshift(dispatch);
    if (sys.failNth && r.op === 'ioctl' && !obs?.ok) return { decision: { kind: 'open', reason: 'fault injection (fail_nth) is armed for this ioctl' }, ok: tx.sys, failed: base, edges: tx.edges };
    return { decision: { kind: 'accept' }, ok: tx.sys, edges: tx.edges };
  } catch (err) {
    if (err instanceof Refusal && err.decision.machine !== 'system') tx.edges.unshift(dispatch);
    if (err instanceof Refusal) {
      if (sys.failNth && r.op === 'ioctl') return { decision: { kind: 'open', reason: 'fault injection (fail_nth) is armed for this ioctl' }, failed: base, edges: tx.edges };
      return { decision: err.decision, failed: err.sys ?? base, edges: tx.edges };
    }
    if (err instanceof Unmodelled) return { decision: { kind: 'open', reason: err.reason }, failed: base, edges: tx.edges };
    if (err instanceof Mismatch) return { decision: { kind: 'accept' }, mismatch: err.reason, failed: base, edges: tx.edges };
    throw err;
  } finally {
    endDraft();
  }
}

/** The predicted next state (no implementation in the loop): success when accepted, the refusal's effects when refused. */
export function predict(sys: System, ev: SysEvent): { next: System; out: StepOut } {
  const out = decide(sys, ev);
  // An open decision leaves the state as a failure would (fault injection disarmed).
  const next = out.decision.kind === 'accept' ? (out.ok ?? sys) : (out.failed ?? sys);
  return { next, out };
}

// ---------------------------------------------------------------- XState form

export interface SystemMachineInput {
  readonly profile: Profile;
  readonly iommus?: readonly IommuInfo[];
}

type XEvent = SysEvent & EventObject;

/** Every system guard, and the event types whose handlers use it. */
export function systemGuardUse(): Map<string, string[]> {
  const use = new Map<string, string[]>();
  for (const [type, h] of Object.entries(HANDLERS)) for (const g of h.guards) use.set(g, [...(use.get(g) ?? []), type]);
  return use;
}

function buildSystemMachine(): AnyStateMachine {
  const guards: Record<string, (a: { context: System; event: XEvent }) => boolean> = {};
  for (const name of Object.keys(SYSTEM_GUARDS)) {
    // The guard holds when the step is refused by exactly this system rule.
    guards[name] = ({ context, event }) => {
      const d = decide(context, event).decision;
      return d.kind === 'refuse' && d.machine === 'system' && d.guard === name;
    };
  }
  const on: Record<string, unknown> = {};
  for (const [type, h] of Object.entries(HANDLERS)) {
    on[type] = [
      ...h.guards.map((g) => ({ guard: g, meta: { refuse: SYSTEM_GUARDS[g]?.errno, clauses: SYSTEM_GUARDS[g]?.clauses ?? [] } })),
      { actions: 'dispatch', meta: { clauses: h.clauses ?? [] } },
    ];
  }
  return setup({
    types: {} as { context: System; events: XEvent; input: SystemMachineInput },
    guards: guards as never,
    actions: {
      dispatch: assign(({ context, event }: { context: System; event: XEvent }) => predict(context, event).next) as never,
    },
  }).createMachine({
    id: 'system',
    context: ({ input }: { input: SystemMachineInput }) => emptySystem(input.profile, input.iommus),
    initial: 'running',
    states: { running: { on } },
  } as never) as unknown as AnyStateMachine;
}

export const systemMachine: AnyStateMachine = buildSystemMachine();

/** A traversal snapshot: the system state, and the machine edges the last step took. */
export interface SystemSnapshot {
  readonly status: 'active';
  readonly output: undefined;
  readonly error: undefined;
  readonly context: System;
  readonly value: 'running';
  readonly taken: readonly string[];
  readonly decision?: StepOut['decision'];
}

/** The system step as an ActorLogic (what xstate/graph traverses): same decisions, compiled object steps. */
export function systemLogic(input: SystemMachineInput): ActorLogic<SystemSnapshot, XEvent, SystemMachineInput> {
  const initial: SystemSnapshot = { status: 'active', output: undefined, error: undefined, context: emptySystem(input.profile, input.iommus), value: 'running', taken: [] };
  return {
    config: {},
    transition: (snapshot: SystemSnapshot, event: XEvent) => {
      const { next, out } = predict(snapshot.context, event);
      return { ...snapshot, context: next, taken: out.edges, decision: out.decision };
    },
    getInitialSnapshot: () => initial,
    getPersistedSnapshot: (s: SystemSnapshot) => s,
  } as unknown as ActorLogic<SystemSnapshot, XEvent, SystemMachineInput>;
}

export { emptySystem };
