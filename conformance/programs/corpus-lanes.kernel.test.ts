/**
 * The corpus on the kernel lanes, judged by their expectations files, in file
 * order, reversed and a seeded shuffle on one lane session reset between
 * programs: no failure (violations, errors, unlisted skips, stale entries)
 * and the same verdicts whatever the order; and change_process/account_none
 * first leaves the next program unaffected (while without the reset it does
 * not). Needs the guests (QEMU), so it runs only with IOMMUFD_SPEC_KERNEL=1:
 *   IOMMUFD_SPEC_KERNEL=1 npx vitest run conformance/programs/corpus-lanes.kernel.test.ts
 * IOMMUFD_SPEC_KERNEL_PROFILES=6.12 (comma list) picks the profiles.
 */
import { describe, expect, it } from 'vitest';
import '../kernel/register.ts';
import { isProfile } from '../../spec/uapi/profiles.ts';
import { defaultExpectationsFile, loadExpectationsFile } from './expectations.ts';
import { CORPUS_DIR, loadPrograms } from './load.ts';
import { runPrograms, type ProgramOrder } from './session.ts';
import { judgeRun } from './verdict.ts';
import { verdictDifferences, verdictsOf } from './corpus.test-support.ts';
import { SHUFFLE_SEED } from './corpus-ref.test-support.ts';

const enabled = process.env['IOMMUFD_SPEC_KERNEL'] === '1';
const profiles = (process.env['IOMMUFD_SPEC_KERNEL_PROFILES'] ?? '6.12,7.3').split(',').filter(isProfile);
const programs = loadPrograms([CORPUS_DIR]);
const ORDERS: ProgramOrder[] = [{ kind: 'file' }, { kind: 'reverse' }, { kind: 'shuffle', seed: SHUFFLE_SEED }];

describe.skipIf(!enabled)('the corpus on the kernel lanes', () => {
  for (const profile of profiles) {
    const impl = `linux-${profile}`;
    const file = defaultExpectationsFile(impl);
    const entries = file ? loadExpectationsFile(file).entries : [];

    it(`${impl}: passes its expectations with the same verdicts in file, reverse and shuffle:${SHUFFLE_SEED} order`, async () => {
      let first: Map<string, string> | undefined;
      for (const order of ORDERS) {
        const session = await runPrograms(impl, profile, programs, { order });
        expect(session.isolation, session.order).toMatchObject({ mode: 'reset', resets: programs.length - 1, reopens: 0 });
        const failures = session.runs.flatMap((r) => judgeRun(r, entries).failures.map((f) => `${r.program.name} ${f.step ?? '-'} ${f.kind}: ${f.message}`));
        expect(failures, session.order).toEqual([]);
        const verdicts = verdictsOf(session, entries);
        if (first) expect(verdictDifferences(first, verdicts), session.order).toEqual([]);
        first ??= verdicts;
      }
    }, 1_800_000);

    if (profile === '7.3') {
      it(`${impl}: change_process.account_none.basic first leaves the next program unaffected`, async () => {
        const pick = (name: string) => programs.filter((p) => p.program.name === name);
        const pair = [...pick('change_process.account_none.basic'), ...pick('observe.accounting.none')];
        expect(pair).toHaveLength(2);
        const alone = await runPrograms(impl, profile, pair.slice(1));
        const after = await runPrograms(impl, profile, pair);
        expect(judgeRun(after.runs[1]!, entries).failures).toEqual([]);
        expect(verdictsOf({ ...after, runs: after.runs.slice(1) }, entries)).toEqual(verdictsOf(alone, entries));
        const leaky = await runPrograms(impl, profile, pair, { isolation: 'none' });
        expect(leaky.runs[1]?.steps.flatMap((o) => o.violations).some((v) => /lockedVmPages: expected 0, got 4/.test(v))).toBe(true);
      }, 600_000);
    }
  }
});
