/**
 * What an oracle is: something that watches one case — every step the
 * implementation under test answered, in order — and objects. Three oracles
 * are reported separately: the differential one (the reference in lockstep),
 * the lifecycle one (the machines of model/), and the invariants (black-box
 * security and accounting properties through the adapter's observations).
 * Failures of the adapter itself (a crash, a hang, a protocol violation) are
 * objections of the pseudo-oracle 'protocol'.
 */
import type { Capabilities, Profile, Request, Response } from '../../../spec/contract/types.ts';
import type { StepExpect } from '../../programs/types.ts';
import type { StepTemplate } from '../step.ts';

export type OracleName = 'differential' | 'lifecycle' | 'invariants';
export type ObjectorName = OracleName | 'protocol';

/** What an expectations entry matches: the command (with its test op), the allowed result, the observed one. */
export interface Signature {
  readonly command: string;
  readonly expected: string;
  readonly observed: string;
}

export interface Objection {
  readonly oracle: ObjectorName;
  /** 'differential', 'lifecycle', 'invariants.<name>', 'protocol', 'invariants.fail-nth'. */
  readonly property: string;
  /** The spec clause the broken rule is, when one names it. */
  readonly clause?: string;
  /** 1-based step the objection is about; 0 = the end-of-case sweep. */
  readonly step: number;
  readonly message: string;
  readonly expected?: string;
  readonly observed?: string;
  /** The observation that showed it (an extra step of the counterexample). */
  readonly probe?: { readonly request: Request; readonly response?: Response; readonly expect?: StepExpect };
  readonly signature: Signature;
}

export interface StepEvent {
  readonly step: number;
  readonly template: StepTemplate;
  /** The request as the implementation got it (its handles). */
  readonly request: Request;
  readonly response: Response;
  /** Names this step bound on the implementation's side, and their values. */
  readonly bound: ReadonlyMap<string, unknown>;
  /** Every name bound so far on the implementation's side. */
  readonly bindings: ReadonlyMap<string, unknown>;
}

export interface CaseContext {
  readonly profile: Profile;
  /** The implementation's capability report. */
  readonly caps: Capabilities;
  /** Observation requests to the implementation (recorded with the current step). */
  readonly observe: (requests: readonly Request[]) => Promise<readonly Response[]>;
  /** Deterministic per case and step (probe sampling): replays sample the same pages. */
  readonly random: () => number;
  /** Counts checks per property (a property that never ran is not reported as passed). */
  readonly count: (property: string, n?: number) => void;
}

export interface PropertyGate {
  readonly property: string;
  /** Undefined: checkable; else why not (capability gating: a skip, never a failure). */
  readonly skip?: string;
}

export interface Oracle {
  readonly name: OracleName;
  /** The properties it reports, and whether the implementation's capabilities let them run. */
  gates(caps: Capabilities): readonly PropertyGate[];
  begin(ctx: CaseContext): Promise<void>;
  /** The objections to one step: at once when the oracle needs no observation for it (the session awaits only a promise). */
  step(ev: StepEvent): readonly Objection[] | Promise<readonly Objection[]>;
  /** End of case: the full sweep (may tear the session down). */
  end(): Promise<readonly Objection[]>;
  close(): Promise<void>;
  /** The reference's answer to the step just checked (differential only): the counterexample's "expected". */
  expectedOf?(step: number): Response | undefined;
}

export function commandOf(req: Request): string {
  if (req.op !== 'ioctl') return req.op;
  const cmd = typeof req.cmd === 'number' ? `0x${req.cmd.toString(16)}` : req.cmd;
  if (cmd === 'IOMMU_TEST_CMD' && req.arg.kind === 'struct') return `${cmd}/${String(req.arg.fields['op'])}`;
  return cmd;
}
