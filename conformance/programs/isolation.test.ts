/**
 * Programs are kept apart on a shared adapter. change_process/account_none
 * drops CAP_IPC_LOCK; observe.accounting.none maps through /dev/vfio/vfio
 * (MM accounting) and expects nothing charged to locked_vm, which holds only
 * while CAP_IPC_LOCK is (pages.c: iopt_alloc_pages → IOPT_PAGES_ACCOUNT_NONE).
 * Run after account_none on one adapter, it must give exactly what it gives
 * alone — and without the reset between them it does not, which shows the
 * check can fail.
 */
import { describe, expect } from 'vitest';
import { check } from '../../spec/clauses/check.ts';
import { defaultExpectationsFile, loadExpectationsFile } from './expectations.ts';
import { CORPUS_DIR, loadPrograms } from './load.ts';
import { runPrograms } from './session.ts';
import { judgeRun } from './verdict.ts';
import { SERVED_REFERENCE, SLOW_START, verdictOf } from './corpus.test-support.ts';
import type { LoadedProgram } from './types.ts';

const all = loadPrograms([CORPUS_DIR]);
const file = defaultExpectationsFile('ref');
const entries = file ? loadExpectationsFile(file).entries : [];

function program(name: string): LoadedProgram {
  const p = all.find((x) => x.program.name === name);
  if (!p) throw new Error(`no program ${name} in the corpus`);
  return p;
}

const FIRST = program('change_process.account_none.basic');
const NEXT = program('observe.accounting.none');

describe('isolation between programs on a shared adapter', () => {
  check('programs.isolation.account-none-first', async () => {
    const alone = await runPrograms(SERVED_REFERENCE, '7.3', [NEXT], { adapter: SLOW_START });
    const after = await runPrograms(SERVED_REFERENCE, '7.3', [FIRST, NEXT], { adapter: SLOW_START });
    expect(after.isolation).toMatchObject({ mode: 'reset', resets: 1, reopens: 0 });
    const [firstRun, nextRun] = after.runs;
    // account_none really dropped the capability (its set_process step ran) …
    expect(firstRun?.steps.find((o) => o.op === 'set_process')?.status).toBe('ok');
    // … and the next program neither fails nor differs from a run on its own.
    expect(judgeRun(nextRun!, entries).failures).toEqual([]);
    expect(verdictOf(nextRun!, entries)).toBe(verdictOf(alone.runs[0]!, entries));

    // Without the reset the capability stays dropped and the mapping is charged to locked_vm.
    const leaky = await runPrograms(SERVED_REFERENCE, '7.3', [FIRST, NEXT], { isolation: 'none', adapter: SLOW_START });
    const violations = leaky.runs[1]?.steps.flatMap((o) => o.violations) ?? [];
    expect(violations.some((v) => /lockedVmPages: expected 0, got 4/.test(v))).toBe(true);
  }, 600_000);

  check('programs.isolation.reopen-without-reset', async () => {
    // An adapter that does not serve reset (the stub reports everything unsupported) is reopened between programs.
    const bin = new URL('../../bin/iommufd-spec.mjs', import.meta.url).pathname;
    const two = [program('observe.accounting.none'), program('observe.accounting.user')];
    const s = await runPrograms(`cmd:${process.execPath} ${bin} serve --impl stub`, '7.3', two, { adapter: SLOW_START });
    expect(s.isolation).toMatchObject({ mode: 'reset', resets: 0, reopens: 1 });
    expect(s.isolation.reopenReasons).toEqual(['reset: stub implementation']);
    expect(s.runs.map((r) => r.skipKind)).toEqual(['unsupported', 'unsupported']);
  }, 600_000);

  check('programs.isolation.reset-in-process', async () => {
    // The same on the in-process reference when one adapter is shared: reset alone isolates.
    const after = await runPrograms('ref', '7.3', [FIRST, NEXT], { shared: true });
    expect(after.isolation).toMatchObject({ mode: 'reset', resets: 1 });
    expect(judgeRun(after.runs[1]!, entries).failures).toEqual([]);
    const leaky = await runPrograms('ref', '7.3', [FIRST, NEXT], { shared: true, isolation: 'none' });
    expect(judgeRun(leaky.runs[1]!, entries).failures.length).toBeGreaterThan(0);
  });
});
