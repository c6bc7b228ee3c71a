/**
 * Reducing a counterexample below the command level. fast-check shrinks the
 * generated command list and each command's choices, but a command's
 * constructors (what it needs, made on the spot: a context, an IOAS, a device
 * pair of one group…) come with it as a block, and a command that consumes a
 * handle cannot go while a later one uses what it made. Once fast-check is
 * done, the executed steps are reduced as a program, as C-Reduce or syzkaller's
 * prog minimization do: each step in turn is dropped, together with every
 * later step that used a name it bound (the session skips a step whose input
 * was never produced), and the smaller program is kept when it still fails
 * with the same objection. Passes repeat until none removes anything.
 *
 * A step that only places something (an area whose IOVA later steps name
 * relative to it: `$area+0x1000`) holds its dependents hostage: when dropping
 * it with them fails, it is tried once more with those references written out
 * as the IOVAs the failing run gave them, as a human would rewrite the
 * program. Likewise a step that makes a second thing of a kind (another
 * device's id, another buffer) when the program only needs one: it is tried
 * once more with later references to what it made pointed at what an earlier
 * step of the same kind made (`$devid14` → `$devid13`).
 *
 * Deterministic: the budget is a number of trial runs, not a time, so the same
 * counterexample reduces to the same program on a busy machine and an idle
 * one; `deadline` only stops a slow adapter (a kernel under emulation) early.
 */
import { Ref, type StepTemplate, type Tmpl } from './step.ts';

export interface ReduceOptions<R = unknown> {
  /** Trial runs at most (default 300). */
  readonly maxTrials?: number;
  /** Stop when this returns true (checked before each trial). */
  readonly stop?: () => boolean;
  /** What a run bound each name to (for writing references out as their values). */
  readonly bindingsOf?: (r: R) => ReadonlyMap<string, unknown> | undefined;
}

export interface Trial<R> {
  /** The result when the program still fails as the original did, else undefined. */
  readonly result: R | undefined;
  /** The steps that ran, up to and including the failing one (skipped steps left out): the program to keep. */
  readonly executed: readonly StepTemplate[];
}

export interface Reduced<R> {
  readonly steps: readonly StepTemplate[];
  readonly result: R;
  readonly trials: number;
}

/**
 * Greedy one-step deletion, from the last step back, to a fixed point. `test`
 * runs a program on a fresh session; a trial is accepted when it still fails
 * the same way, and then its executed steps (which leave out the dependents
 * that could not run and whatever followed the failure) replace the program.
 */
export async function reduceSteps<R>(steps: readonly StepTemplate[], initial: R, test: (steps: readonly StepTemplate[]) => Promise<Trial<R>>, opts: ReduceOptions<R> = {}): Promise<Reduced<R>> {
  const maxTrials = opts.maxTrials ?? 300;
  let best = { steps, result: initial };
  let trials = 0;
  let changed = true;
  while (changed) {
    changed = false;
    for (let i = best.steps.length - 1; i >= 0; i--) {
      if (trials >= maxTrials || opts.stop?.()) return { ...best, trials };
      if (i >= best.steps.length) continue;
      const candidates = [[...best.steps.slice(0, i), ...best.steps.slice(i + 1)]];
      const literal = inlineIovas(best.steps, i, opts.bindingsOf?.(best.result));
      if (literal) candidates.push(literal);
      const alike = useEarlierAlike(best.steps, i);
      if (alike) candidates.push(alike);
      for (const candidate of candidates) {
        if (trials >= maxTrials || opts.stop?.()) return { ...best, trials };
        trials++;
        const trial = await test(candidate);
        if (trial.result === undefined || trial.executed.length >= best.steps.length) continue;
        best = { steps: trial.executed, result: trial.result };
        changed = true;
        break;
      }
    }
  }
  return { ...best, trials };
}

/**
 * The program without step i, every later reference to a name it bound
 * pointed at a name an earlier step of the same op (and ioctl) bound through
 * the same path; undefined when step i binds nothing a later step names, or
 * no earlier step is alike.
 */
function useEarlierAlike(steps: readonly StepTemplate[], i: number): StepTemplate[] | undefined {
  const step = steps[i];
  if (!step?.bind) return undefined;
  const sameKind = (t: StepTemplate): boolean => t.op === step.op && t.fields['cmd'] === step.fields['cmd'];
  const to = new Map<string, string>();
  for (const [name, path] of Object.entries(step.bind)) {
    const earlier = steps.slice(0, i).findLast((t) => sameKind(t) && Object.values(t.bind ?? {}).includes(path));
    const alike = earlier && Object.entries(earlier.bind ?? {}).find(([, p]) => p === path)?.[0];
    if (alike) to.set(name, alike);
  }
  if (to.size === 0) return undefined;
  let used = false;
  const rewrite = (t: Tmpl): Tmpl => {
    if (t instanceof Ref) {
      const alike = to.get(t.name);
      if (alike === undefined) return t;
      used = true;
      return new Ref(alike, t.path, t.add);
    }
    if (t === null || typeof t !== 'object' || t instanceof Uint8Array) return t;
    if (Array.isArray(t)) return t.map(rewrite);
    const out: { [k: string]: Tmpl } = {};
    for (const [k, v] of Object.entries(t)) out[k] = rewrite(v as Tmpl);
    return out;
  };
  const later = steps.slice(i + 1).map((s) => ({ ...s, fields: rewrite(s.fields) as StepTemplate['fields'] }));
  return used ? [...steps.slice(0, i), ...later] : undefined;
}

/**
 * The program without step i, every later reference to an IOVA it bound (a
 * name bound to a bigint, named without a path) written out as that value;
 * undefined when it bound none that a later step names.
 */
function inlineIovas(steps: readonly StepTemplate[], i: number, bindings: ReadonlyMap<string, unknown> | undefined): StepTemplate[] | undefined {
  const names = Object.keys(steps[i]?.bind ?? {}).filter((n) => typeof bindings?.get(n) === 'bigint');
  if (!bindings || names.length === 0) return undefined;
  let used = false;
  const rewrite = (t: Tmpl): Tmpl => {
    if (t instanceof Ref) {
      const v = bindings.get(t.name);
      if (t.path !== '' || !names.includes(t.name) || typeof v !== 'bigint') return t;
      used = true;
      return v + t.add;
    }
    if (t === null || typeof t !== 'object' || t instanceof Uint8Array) return t;
    if (Array.isArray(t)) return t.map(rewrite);
    const out: { [k: string]: Tmpl } = {};
    for (const [k, v] of Object.entries(t)) out[k] = rewrite(v as Tmpl);
    return out;
  };
  const later = steps.slice(i + 1).map((s) => ({ ...s, fields: rewrite(s.fields) as StepTemplate['fields'] }));
  return used ? [...steps.slice(0, i), ...later] : undefined;
}
