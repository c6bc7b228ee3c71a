/**
 * The lifecycle oracle: each step's request (with the implementation's
 * handles) and result drive the lifecycle machines of model/ (XState v5
 * object machines composed in the system machine, run by a compiled
 * stepper); an ioctl that succeeds where a machine forbids it, or fails with
 * an errno a lifecycle clause decides where a machine requires success or
 * another errno, is an objection naming the machine, its state, the event
 * and the guard and clause. Steps the machines do not decide (argument
 * errors, ops they do not model) are neither checks nor objections.
 */
import type { Capabilities, Profile, Response, SingleRequest } from '../../../spec/contract/types.ts';
import { createLifecycleOracle, type Verdict } from '../../../model/index.ts';
import { errnoName } from '../../../spec/uapi/errno.ts';
import { commandName } from '../session.ts';
import type { CaseContext, Objection, Oracle, PropertyGate, StepEvent } from './oracle.ts';

/** What the model answers for one step. */
export type LifecycleVerdict =
  | { readonly kind: 'ok' }
  /** The machines do not decide this step (outside what they model). */
  | { readonly kind: 'open'; readonly why?: string }
  | {
      readonly kind: 'disagree';
      readonly machine: string;
      readonly state: string;
      readonly event: string;
      readonly guard?: string;
      readonly clause?: string;
      /** What the machine allows: 'ok' or an errno name. */
      readonly expected?: string;
      readonly message?: string;
    };

/** One instance per case: fed every executed step in order. */
export interface LifecycleModel {
  feed(request: SingleRequest, response: Response): LifecycleVerdict;
  close?(): void;
}

export type LifecycleFactory = (profile: Profile, caps: Capabilities) => LifecycleModel;

/** The model's verdict in the suite's terms (the clauses joined: the first is the one that decides the errno). */
export function toLifecycleVerdict(v: Verdict): LifecycleVerdict {
  if (v.kind === 'ok') return { kind: 'ok' };
  if (v.kind === 'open') return { kind: 'open', why: v.reason };
  return {
    kind: 'disagree',
    machine: v.machine,
    state: v.state,
    event: v.event,
    ...(v.guard !== undefined && { guard: v.guard }),
    ...(v.clauses.length > 0 && { clause: v.clauses.join(', ') }),
    expected: v.expected,
    message: v.message,
  };
}

let edgeSink: Set<string> | undefined;

/** While set, every machine edge a case takes is added to `sink` (`coverage --machines`' suite column; in-process runs only). */
export function collectLifecycleEdges(sink: Set<string> | undefined): void {
  edgeSink = sink;
}

/** The machines of model/ behind the suite's interface. */
export const machinesFactory: LifecycleFactory = (profile, caps) => {
  const oracle = createLifecycleOracle(profile, { capabilities: caps });
  return {
    feed: (request, response) => {
      const v = oracle.check(request, response);
      if (edgeSink) for (const e of v.edges) edgeSink.add(e);
      return toLifecycleVerdict(v);
    },
  };
};

export type LifecycleLoad = { readonly factory: LifecycleFactory } | { readonly unavailable: string };

/** The lifecycle oracle's factory (kept async: the runner and the workers treat it as a load step). */
export function loadLifecycle(): Promise<LifecycleLoad> {
  return Promise.resolve({ factory: machinesFactory });
}

export class LifecycleOracle implements Oracle {
  readonly name = 'lifecycle' as const;
  private model: LifecycleModel | undefined;
  private ctx!: CaseContext;

  constructor(
    private readonly factory: LifecycleFactory,
    private readonly profile: Profile,
  ) {}

  gates(): readonly PropertyGate[] {
    return [{ property: 'lifecycle' }];
  }

  async begin(ctx: CaseContext): Promise<void> {
    this.ctx = ctx;
    this.model = this.factory(this.profile, ctx.caps);
  }

  step(ev: StepEvent): readonly Objection[] {
    if (!this.model || ev.request.op === 'batch') return [];
    const v = this.model.feed(ev.request, ev.response);
    if (v.kind !== 'disagree') {
      if (v.kind === 'ok') this.ctx.count('lifecycle');
      return [];
    }
    this.ctx.count('lifecycle');
    const observed = observedOf(ev.response);
    const expected = v.expected ?? 'what the machine allows';
    return [
      {
        oracle: 'lifecycle',
        property: 'lifecycle',
        ...(v.clause && { clause: v.clause }),
        step: ev.step,
        message: `machine ${v.machine}, state ${v.state}, event ${v.event}${v.guard ? `, guard ${v.guard}` : ''}${v.clause ? `, clause ${v.clause}` : ''}: ${v.message ?? 'the machine does not allow what the implementation did'}`,
        expected,
        observed,
        signature: { command: commandName(ev.request), expected: `${v.machine}.${v.state}:${expected}`, observed },
      },
    ];
  }

  async end(): Promise<readonly Objection[]> {
    return [];
  }

  async close(): Promise<void> {
    this.model?.close?.();
    this.model = undefined;
  }
}

/** What the implementation did: 'ok', an errno name, or the protocol error's code. */
function observedOf(res: Response): string {
  if (!res.ok) return res.error.code;
  const r = res.result as { ret?: number; errno?: number; fd?: number };
  const errno = r.errno ?? 0;
  return errno === 0 ? 'ok' : (errnoName(errno) ?? `E${errno}`);
}
