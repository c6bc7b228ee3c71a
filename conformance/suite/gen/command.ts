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
  if (ENVIRONMENT_POOLS.has(t.op) && step.status !== 'ok') m.refused.add(t.op);
  spec.after?.(m, choice, t, step, s);
  const next = spec.follow?.(m, choice, t, step);
  for (const n of Array.isArray(next) ? (next as readonly StepTemplate[]) : next ? [next as StepTemplate] : []) {
    const done = await s.exec(n);
    spec.afterFollow?.(m, choice, n, done);
  }
}

/** The environment ops whose results fill the model's pools, and the pool each fills. */
const ENVIRONMENT_POOLS = new Map<string, (m: GenModel) => readonly unknown[]>([
  ['open', (m) => m.ctxs],
  ['mem_alloc', (m) => m.bufs],
  ['device_create', (m) => m.devs],
  ['open_device', (m) => m.dfds],
  ['kvm_create', (m) => m.vms],
]);

/**
 * The environment ops whose results a need is built from: its constructor
 * makes them first (a device file needs a device; a mapped area, a context
 * and a buffer), and the command's build picks from their pools.
 */
function environmentOf(need: Need): readonly string[] {
  switch (need) {
    case 'setting':
      return [];
    case 'ctx': case 'ioas': case 'ctx2': case 'freshCtx': case 'acc': case 'compat': case 'stdev': case 'allowedIoas':
      return ['open'];
    case 'buf':
      return ['mem_alloc'];
    case 'area': case 'areaPair': case 'accSiblings': case 'spanPair': case 'wholeSpan': case 'loneSpan': case 'roSpan': case 'leafRun': case 'unalignedIoas': case 'tightHole': case 'compatAccess':
      return ['open', 'mem_alloc'];
    case 'dev':
      return ['device_create'];
    case 'vm':
      return ['kvm_create'];
    case 'vmMixed': case 'vmHeldMapped':
      return ['open', 'mem_alloc', 'device_create', 'open_device', 'kvm_create'];
    default:
      // Every other need is a device file in some arrangement, usually with a mapping behind it.
      return ['open', 'mem_alloc', 'device_create', 'open_device'];
  }
}

/** Whether a spec builds on a context (/dev/iommu open): one of its needs is made from one. */
export function needsContext(spec: CommandSpec<unknown>): boolean {
  return (spec.needs ?? []).some((n) => environmentOf(n).includes('open'));
}

/**
 * Whether the needs' constructors left what the build picks from: not so
 * only when the implementation refused an environment op in this case and
 * that op's pool is still empty (the build would have nothing to pick).
 */
function needsMet(m: GenModel, needs: readonly Need[]): boolean {
  if (m.refused.size === 0) return true;
  return needs.every((n) => environmentOf(n).every((op) => !m.refused.has(op) || (ENVIRONMENT_POOLS.get(op)?.(m).length ?? 1) > 0));
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
    if (!needsMet(m, this.spec.needs ?? [])) return;
    await runSpec(this.spec, m, s, this.choice);
  }
  toString(): string {
    return `${this.spec.kind}(${fc.stringify(this.choice)})`;
  }
}
