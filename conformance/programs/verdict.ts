/**
 * The verdict on one program run against an implementation's expectations
 * (FORMAT.md "Verdicts"): what fails, what an entry covers. Nothing passes
 * by not running:
 *
 *   - a violated expect set fails unless a divergence entry covers it;
 *   - a step error (a protocol error, an unresolvable reference) fails;
 *   - a step that does not run — or a whole program skipped because the
 *     implementation lacks what it `requires` — fails unless an `unsupported`
 *     entry lists it (a program that does not apply to the profile is not
 *     a skip: there is nothing to run);
 *   - an `unsupported` entry whose steps now run is stale, and fails too, so
 *     the lists shrink as implementations grow.
 *
 * exec, the corpus tests, the kernel lanes and `npm run conformance` (through
 * the corpus test) all judge with this.
 */
import { errnoName } from './errno.ts';
import { appliesTo, type ExpectationEntry } from './expectations.ts';
import { findExpectation } from './expectations.ts';
import type { ProgramRun, StepOutcome } from './run.ts';

export type FindingKind = 'violation' | 'error' | 'unlisted-skip' | 'stale-entry';

export interface Finding {
  readonly program: string;
  /** The step it concerns (absent: the whole program). */
  readonly step?: number;
  readonly kind: FindingKind;
  readonly message: string;
  /** The entry that covers it (known) or that is stale. */
  readonly entry?: ExpectationEntry;
}

export interface RunVerdict {
  /** What fails the run. */
  readonly failures: readonly Finding[];
  /** What an entry covers: known violations and listed skips. */
  readonly known: readonly Finding[];
}

function observedOf(o: StepOutcome): string {
  return o.status === 'ok' ? 'ok' : errnoName(o.errno ?? 0);
}

/** The unsupported entries of a program on a profile. */
export function unsupportedEntries(entries: readonly ExpectationEntry[], program: string, profile: ProgramRun['profile']): ExpectationEntry[] {
  return entries.filter((e) => e.kind === 'unsupported' && e.program === program && appliesTo(e, profile));
}

/** Judges one run (see the module comment). */
export function judgeRun(run: ProgramRun, entries: readonly ExpectationEntry[]): RunVerdict {
  const program = run.program.name;
  const failures: Finding[] = [];
  const known: Finding[] = [];
  if (run.skipKind === 'profile') return { failures, known };
  const unsupported = unsupportedEntries(entries, program, run.profile);
  const wholeProgram = unsupported.filter((e) => e.steps === undefined);
  const perStep = unsupported.filter((e) => e.steps !== undefined);

  if (run.skipped) {
    const entry = wholeProgram[0];
    const message = `program skipped: ${run.skipped}`;
    if (entry) known.push({ program, kind: 'unlisted-skip', message, entry });
    else failures.push({ program, kind: 'unlisted-skip', message: `${message} — no unsupported entry lists it` });
    for (const e of perStep) failures.push({ program, kind: 'stale-entry', message: `entry lists steps ${e.steps?.join(', ')} but the whole program was skipped: list the program instead`, entry: e });
    return { failures, known };
  }
  for (const e of wholeProgram) failures.push({ program, kind: 'stale-entry', message: 'entry lists the whole program as unsupported, but it ran', entry: e });

  const listed = new Map<number, ExpectationEntry>();
  for (const e of perStep) for (const n of e.steps ?? []) listed.set(n, e);
  for (const o of run.steps) {
    if (o.status === 'error') failures.push({ program, step: o.step, kind: 'error', message: o.reason ?? 'error' });
    if (o.status === 'skipped') {
      const entry = listed.get(o.step);
      const message = `skipped: ${o.reason ?? ''}`;
      if (entry) known.push({ program, step: o.step, kind: 'unlisted-skip', message, entry });
      else failures.push({ program, step: o.step, kind: 'unlisted-skip', message: `${message} — no unsupported entry lists it` });
    } else if (listed.has(o.step)) {
      failures.push({ program, step: o.step, kind: 'stale-entry', message: `listed as unsupported, but it ran (${o.status}): remove it from the entry`, entry: listed.get(o.step) });
    }
    for (const v of o.violations) {
      // What the program allowed, as printed: errno names, or 'ok'.
      const want = run.program.steps[o.step - 1]?.expect;
      const allowed = [...(want?.errno ?? []), ...(want?.ok ? ['ok'] : [])];
      const entry = findExpectation(entries, { program, profile: run.profile, step: o.step, field: 'expect', values: [observedOf(o), ...allowed] });
      if (entry) known.push({ program, step: o.step, kind: 'violation', message: v, entry });
      else failures.push({ program, step: o.step, kind: 'violation', message: v });
    }
  }
  return { failures, known };
}

/** Every step the run did not run, with why (the whole program as step-less when it was skipped). */
export function skipsOf(run: ProgramRun): { readonly step?: number; readonly reason: string }[] {
  if (run.skipKind === 'profile') return [];
  if (run.skipped) return [{ reason: run.skipped }];
  return run.steps.filter((o) => o.status === 'skipped').map((o) => ({ step: o.step, reason: o.reason ?? '' }));
}
