/**
 * The checks of corpus-ref-<profile>.test.ts (one file per profile, so the
 * two profiles run in parallel workers).
 */
import { expect } from 'vitest';
import { check } from '../../spec/clauses/check.ts';
import type { Profile } from '../../spec/contract/types.ts';
import { defaultExpectationsFile, loadExpectationsFile } from './expectations.ts';
import { CORPUS_DIR, loadPrograms } from './load.ts';
import { runPrograms, type ProgramOrder, type SessionResult } from './session.ts';
import { judgeRun } from './verdict.ts';
import { SERVED_REFERENCE, SLOW_START, verdictDifferences, verdictsOf } from './corpus.test-support.ts';

/** The pinned shuffle of `npm test` (any seed reproduces with `exec --order shuffle:<seed>`). */
export const SHUFFLE_SEED = 20261202;
/** A bound against a hang, not a speed requirement: a loaded machine may take minutes. */
const TIMEOUT = 1_800_000;

const programs = loadPrograms([CORPUS_DIR]);
const file = defaultExpectationsFile('ref');
const entries = file ? loadExpectationsFile(file).entries : [];

/** The in-process session, run once per worker and shared by the checks that compare against it. */
const inProcess = new Map<Profile, Promise<SessionResult>>();
function inProcessSession(profile: Profile): Promise<SessionResult> {
  let s = inProcess.get(profile);
  if (!s) {
    s = runPrograms('ref', profile, programs);
    inProcess.set(profile, s);
  }
  return s;
}

export function correctOnReference(profile: Profile): void {
  check(`programs.corpus.passes-on-reference-${profile}`, async () => {
    const session = await inProcessSession(profile);
    const failures = session.runs.flatMap((run) => judgeRun(run, entries).failures.map((f) => `${run.program.name}${f.step !== undefined ? ` step ${f.step}` : ''}: ${f.kind}: ${f.message}`));
    expect(failures).toEqual([]);
    // The corpus really ran: most steps were executed, not skipped.
    const ran = session.runs.flatMap((r) => r.steps).filter((o) => o.status === 'ok' || o.status === 'failed').length;
    expect(ran).toBeGreaterThan(3000);
  }, TIMEOUT);
}

export function sameVerdictsOverServe(profile: Profile): void {
  const orders: ProgramOrder[] = [{ kind: 'file' }, { kind: 'reverse' }, { kind: 'shuffle', seed: SHUFFLE_SEED }];
  check(`programs.corpus.same-verdicts-over-serve-${profile}`, async () => {
    const here = verdictsOf(await inProcessSession(profile), entries);
    for (const order of orders) {
      const served = await runPrograms(SERVED_REFERENCE, profile, programs, { order, adapter: SLOW_START });
      // One adapter for the whole corpus, reset between programs — never reopened.
      expect(served.isolation, `order ${served.order}`).toMatchObject({ mode: 'reset', resets: programs.length - 1, reopens: 0 });
      expect(verdictDifferences(here, verdictsOf(served, entries)), `order ${served.order}`).toEqual([]);
    }
  }, TIMEOUT);
}
