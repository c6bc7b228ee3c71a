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
 * Deterministic: the budget is a number of trial runs, not a time, so the same
 * counterexample reduces to the same program on a busy machine and an idle
 * one; `deadline` only stops a slow adapter (a kernel under emulation) early.
 */
import type { StepTemplate } from './step.ts';

export interface ReduceOptions {
  /** Trial runs at most (default 300). */
  readonly maxTrials?: number;
  /** Stop when this returns true (checked before each trial). */
  readonly stop?: () => boolean;
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
export async function reduceSteps<R>(steps: readonly StepTemplate[], initial: R, test: (steps: readonly StepTemplate[]) => Promise<Trial<R>>, opts: ReduceOptions = {}): Promise<Reduced<R>> {
  const maxTrials = opts.maxTrials ?? 300;
  let best = { steps, result: initial };
  let trials = 0;
  let changed = true;
  while (changed) {
    changed = false;
    for (let i = best.steps.length - 1; i >= 0; i--) {
      if (trials >= maxTrials || opts.stop?.()) return { ...best, trials };
      if (i >= best.steps.length) continue;
      const candidate = [...best.steps.slice(0, i), ...best.steps.slice(i + 1)];
      trials++;
      const trial = await test(candidate);
      if (trial.result === undefined || trial.executed.length >= best.steps.length) continue;
      best = { steps: trial.executed, result: trial.result };
      changed = true;
    }
  }
  return { ...best, trials };
}
