/**
 * Object machines: one XState v5 machine per iommufd object kind, written with
 * `setup({ types, guards, actions })` and named guards, plus a compiled form of
 * the same machine for speed (compile.ts).
 *
 * A machine is pure logic: its context holds the object's own properties, its
 * events are the ioctls, test ops and environment ops that touch the object
 * (named after them), carrying the facts the system machine resolved (how many
 * users the object has, what the parent HWPT is, …). Guards and actions are
 * plain functions of (context, event) so that XState and the compiled stepper
 * run exactly the same code.
 *
 * Transition metadata (`meta`) says what a transition means for the oracle:
 *   - `refuse: 'EBUSY'`: the machine forbids the event here; the kernel must
 *     fail it with that errno (the transition is a self-loop);
 *   - `clauses: [...]`: the spec clauses (spec/clauses) the transition or its
 *     guard implements;
 *   - `open: true`: the machine leaves the outcome to the implementation (the
 *     event is allowed, but the machine does not require it to succeed).
 */
import { assign, setup, type AnyStateMachine } from 'xstate';

export interface TransitionMeta {
  /** The errno the kernel must return: the machine forbids the event here. */
  readonly refuse?: string;
  /** Clause ids (spec/clauses) this transition or its guard implements. */
  readonly clauses?: readonly string[];
}

/** The subset of the XState machine config the object machines use. */
export interface TransitionSpec {
  readonly target?: string;
  readonly guard?: string;
  readonly actions?: string | readonly string[];
  readonly meta?: TransitionMeta;
  readonly description?: string;
}

export type OnSpec = { readonly [event: string]: TransitionSpec | string | readonly (TransitionSpec | string)[] };

export interface StateSpec {
  readonly type?: 'parallel' | 'final';
  readonly initial?: string;
  readonly description?: string;
  readonly on?: OnSpec;
  readonly states?: { readonly [name: string]: StateSpec };
}

export type Guard<C, E> = (context: C, event: E) => boolean;
export type Action<C, E> = (context: C, event: E) => C;

export interface ObjectMachineDef<C extends object, E extends { readonly type: string }> {
  /** Machine id, e.g. 'ioas'. */
  readonly id: string;
  /** What the machine describes, for the generated page. */
  readonly title: string;
  readonly description: string;
  /** The kernel object it mirrors, e.g. 'struct iommufd_ioas (IOMMUFD_OBJ_IOAS)'. */
  readonly kernel: string;
  readonly context: C;
  /** Named guards with what each checks (the page lists them). */
  readonly guards: { readonly [name: string]: { readonly fn: Guard<C, E>; readonly doc: string; readonly clauses?: readonly string[] } };
  readonly actions?: { readonly [name: string]: Action<C, E> };
  readonly initial: string;
  readonly states: { readonly [name: string]: StateSpec };
  /** Every event type the machine accepts (for typing and completeness). */
  readonly events: readonly E['type'][];
}

export interface ObjectMachine<C extends object = object, E extends { readonly type: string } = { readonly type: string }> {
  readonly def: ObjectMachineDef<C, E>;
  readonly machine: AnyStateMachine;
}

/** Builds the XState machine of an object machine definition. */
export function defineObjectMachine<C extends object, E extends { readonly type: string }>(def: ObjectMachineDef<C, E>): ObjectMachine<C, E> {
  const guards: Record<string, (args: { context: C; event: E }) => boolean> = {};
  for (const [name, g] of Object.entries(def.guards)) guards[name] = ({ context, event }) => g.fn(context, event);
  const actions: Record<string, ReturnType<typeof assign>> = {};
  for (const [name, a] of Object.entries(def.actions ?? {})) {
    // The whole context is replaced by what the pure action returns.
    actions[name] = assign(({ context, event }: { context: C; event: E }) => a(context, event) as never) as never;
  }
  const machine = setup({
    types: {} as { context: C; events: E },
    guards: guards as never,
    actions: actions as never,
  }).createMachine({
    id: def.id,
    context: def.context,
    initial: def.initial,
    states: def.states as never,
  } as never);
  return { def, machine: machine as unknown as AnyStateMachine };
}

/** The member of an event union whose `type` includes T (members may list several types). */
export type EventOf<U, T extends string> = U extends { readonly type: infer X } ? (T extends X ? U : never) : never;
