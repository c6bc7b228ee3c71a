/**
 * The whole corpus on the reference implementation, per profile: every step's
 * expect set holds (or an entry of expectations/ref.json covers it) and no
 * step errors. Steps the reference's capabilities lack are skipped, not failed.
 */
import { describe, expect } from 'vitest';
import { check } from '../../spec/clauses/check.ts';
import { defaultExpectationsFile, findExpectation, loadExpectationsFile } from './expectations.ts';
import { errnoName } from './errno.ts';
import { CORPUS_DIR, loadPrograms } from './load.ts';
import { runPrograms } from './session.ts';

describe('the corpus on the reference', () => {
  const programs = loadPrograms([CORPUS_DIR]);
  const file = defaultExpectationsFile('ref');
  const entries = file ? loadExpectationsFile(file).entries : [];

  for (const profile of ['6.12', '7.3'] as const) {
    check(`programs.corpus.passes-on-reference-${profile}`, async () => {
      const session = await runPrograms('ref', profile, programs);
      const failures: string[] = [];
      let ran = 0;
      for (const run of session.runs) {
        for (const o of run.steps) {
          if (o.status === 'ok' || o.status === 'failed') ran++;
          if (o.status === 'error') failures.push(`${run.program.name} step ${o.step}: ${o.reason}`);
          for (const v of o.violations) {
            const observed = o.status === 'ok' ? 'ok' : errnoName(o.errno ?? 0);
            if (!findExpectation(entries, { program: run.program.name, step: o.step, field: 'expect', values: [observed] })) failures.push(`${run.program.name} step ${o.step}: ${v}`);
          }
        }
      }
      expect(failures).toEqual([]);
      // The corpus really ran: most steps were executed, not skipped.
      expect(ran).toBeGreaterThan(3000);
    }); // no own time bound (it took > 120 s at load 16): vitest.config.ts's hang guard
  }
});
