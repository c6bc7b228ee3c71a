/**
 * What a generated command is: a CommandSpec (one kind of command: its choice
 * arbitrary, what it needs first, how it builds its step and books what came
 * back) and the fc.AsyncCommand that runs one choice of it through the case
 * session after the constructors of its needs.
 */
import fc from 'fast-check';
import type { CaseSession, TraceStep } from '../session.ts';
import type { StepTemplate } from '../step.ts';
import { GenModel } from './model.ts';

export type SuiteCommand = fc.AsyncCommand<GenModel, CaseSession>;

/** One kind of command: its choice arbitrary, when it can run, and how it builds its step. */
export interface CommandSpec<C> {
  /** Swarm key and name (an ioctl name, `ioctl/test op`, or an op). */
  readonly kind: string;
  readonly weight: number;
  readonly arb: fc.Arbitrary<C>;
  /** What must exist first; missing ones are created by their constructors (syzkaller's createResource). */
  readonly needs?: readonly Need[];
  ready(m: GenModel): boolean;
  build(m: GenModel, c: C): StepTemplate | undefined;
  after?(m: GenModel, c: C, t: StepTemplate, step: TraceStep, s: CaseSession): void;
  /** The steps that complete this one, run right after it (after `after`), in order: part of the same command, shrunk with it. */
  follow?(m: GenModel, c: C, t: StepTemplate, step: TraceStep): StepTemplate | readonly StepTemplate[] | undefined;
  /** Book-keeping of each follow-up step, where one changes what the model tracks. */
  afterFollow?(m: GenModel, c: C, t: StepTemplate, step: TraceStep): void;
}

/** One command of a spec: build, run, book-keep, and its follow-up step if it has one. */
export async function runSpec<C>(spec: CommandSpec<C>, m: GenModel, s: CaseSession, choice: C): Promise<void> {
  const t = spec.build(m, choice);
  if (!t) return;
  const step = await s.exec(t);
  spec.after?.(m, choice, t, step, s);
  const next = spec.follow?.(m, choice, t, step);
  for (const n of Array.isArray(next) ? (next as readonly StepTemplate[]) : next ? [next as StepTemplate] : []) {
    const done = await s.exec(n);
    spec.afterFollow?.(m, choice, n, done);
  }
}

export type Need = 'setting' | 'sharedDomain' | 'ctx' | 'ioas' | 'buf' | 'area' | 'dev' | 'dfd' | 'bound' | 'attached' | 'mappedDevice' | 'devid' | 'hwpt' | 'vm' | 'acc' | 'compat' | 'stdev' | 'ctx2' | 'groupPair' | 'groupAttached' | 'looseSibling' | 'peerPair' | 'areaPair' | 'vmMixed' | 'vmHeldMapped' | 'groupBothAttached' | 'allowedIoas' | 'compatV1Device' | 'bareArea' | 'accSiblings' | 'spanPair' | 'wholeSpan' | 'loneSpan' | 'crossUnit' | 'unalignedIoas' | 'tightHole' | 'awayHwpt' | 'roSpan' | 'leafRun' | 'mixedGroup' | 'barePair' | 'mockPair' | 'freshCtx' | 'groupSpread' | 'compatAccess' | 'twoUnits' | 'ctx2Pinning' | 'growPair' | 'tagReuse';

/**
 * Runs the constructors of what a command needs (set by caseArb once the
 * specs exist); undefined when the need is met already (no promise to await:
 * each await is a turn of the microtask queue).
 */
export type Ensure = (m: GenModel, s: CaseSession, need: Need) => Promise<void> | undefined;

export class GenCommand<C> implements SuiteCommand {
  constructor(
    readonly spec: CommandSpec<C>,
    readonly choice: C,
    private readonly ensure: Ensure,
  ) {}
  check(m: Readonly<GenModel>): boolean {
    return m.on(this.spec.kind) && this.spec.ready(m as GenModel);
  }
  async run(m: GenModel, s: CaseSession): Promise<void> {
    const setting = this.ensure(m, s, 'setting');
    if (setting) await setting;
    for (const need of this.spec.needs ?? []) await this.ensure(m, s, need);
    await runSpec(this.spec, m, s, this.choice);
  }
  toString(): string {
    return `${this.spec.kind}(${fc.stringify(this.choice)})`;
  }
}
