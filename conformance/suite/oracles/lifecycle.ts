/**
 * The lifecycle oracle: each step's request (with the implementation's
 * handles) and result drive the lifecycle machines of model/ (XState v5); an
 * ioctl that succeeds where a machine forbids it, or fails where a machine
 * requires success, is an objection naming the machine, its state, the event
 * and the guard or clause.
 *
 * The machines are another helper's work in progress: this file is the thin
 * adapter between their API and the Oracle interface. Until model/index.ts
 * exports the API, `--oracle full` reports the lifecycle oracle as not yet
 * available (never as passed).
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Capabilities, Profile, Response, SingleRequest } from '../../../spec/contract/types.ts';
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
      /** What the machine allows: 'success', 'failure', an errno set. */
      readonly expected?: string;
      readonly message?: string;
    };

/** The API the suite expects from model/index.ts (one instance per case). */
export interface LifecycleModel {
  feed(request: SingleRequest, response: Response): LifecycleVerdict;
  close?(): void;
}

export type LifecycleFactory = (profile: Profile, caps: Capabilities) => LifecycleModel;

const MODEL_INDEX = new URL('../../../model/index.ts', import.meta.url);

/** Export names looked for, in order (the first one that is a function is used). */
const FACTORY_EXPORTS = ['createLifecycleOracle', 'createLifecycleModel', 'lifecycleOracle'];

export type LifecycleLoad = { readonly factory: LifecycleFactory } | { readonly unavailable: string };

let loaded: Promise<LifecycleLoad> | undefined;

export function loadLifecycle(): Promise<LifecycleLoad> {
  loaded ??= (async (): Promise<LifecycleLoad> => {
    if (!existsSync(fileURLToPath(MODEL_INDEX))) return { unavailable: 'not yet available: model/index.ts (the lifecycle machines) does not exist yet' };
    const mod = (await import(MODEL_INDEX.href)) as Record<string, unknown>;
    for (const name of FACTORY_EXPORTS) {
      if (typeof mod[name] === 'function') return { factory: mod[name] as LifecycleFactory };
    }
    return { unavailable: `not yet available: model/index.ts exports none of ${FACTORY_EXPORTS.join(', ')}` };
  })();
  return loaded;
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

  async step(ev: StepEvent): Promise<readonly Objection[]> {
    if (!this.model || ev.request.op === 'batch') return [];
    const v = this.model.feed(ev.request, ev.response);
    if (v.kind !== 'disagree') {
      if (v.kind === 'ok') this.ctx.count('lifecycle');
      return [];
    }
    this.ctx.count('lifecycle');
    const observed = ev.response.ok ? JSON.stringify((ev.response.result as { errno?: number }).errno ?? 0) : ev.response.error.code;
    const expected = v.expected ?? 'what the machine allows';
    return [
      {
        oracle: 'lifecycle',
        property: 'lifecycle',
        ...(v.clause && { clause: v.clause }),
        step: ev.step,
        message: v.message ?? `machine ${v.machine} in state ${v.state} does not allow event ${v.event}${v.guard ? ` (guard ${v.guard})` : ''}`,
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
