import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { check } from '../../spec/clauses/check.ts';
import { CORPUS_DIR, loadProgram, programFiles } from './load.ts';
import { generateCorpus } from './gen/corpus.ts';
import { EXPECTATIONS_DIR, loadExpectationsFile } from './expectations.ts';

describe('program corpus', () => {
  const files = programFiles(CORPUS_DIR);

  check('programs.corpus.schema-valid', () => {
    expect(files.length).toBeGreaterThan(50);
    for (const f of files) expect(() => loadProgram(f), f).not.toThrow();
  });

  check('programs.corpus.generated-current', () => {
    const generated = generateCorpus();
    const onDisk = files.map((f) => relative(CORPUS_DIR, f)).filter((r) => !r.startsWith('extra/'));
    expect(onDisk.sort()).toEqual([...generated.keys()].sort());
    for (const [rel, text] of generated) expect(readFileSync(join(CORPUS_DIR, rel), 'utf8'), `${rel} is stale: run npx tsx conformance/programs/gen/corpus.ts`).toBe(text);
  });

  it('names are unique and match the file', () => {
    const names = files.map((f) => loadProgram(f).program.name);
    expect(new Set(names).size).toBe(names.length);
  });
});

describe('expectations files', () => {
  check('programs.expectations.entries-name-real-steps', () => {
    const programs = new Map(programFiles(CORPUS_DIR).map((f) => {
      const p = loadProgram(f).program;
      return [p.name, p] as const;
    }));
    for (const f of readdirSync(EXPECTATIONS_DIR).filter((x) => x.endsWith('.json'))) {
      const file = loadExpectationsFile(join(EXPECTATIONS_DIR, f));
      expect(`${file.implementation}.json`).toBe(f);
      for (const e of file.entries) {
        const p = programs.get(e.program);
        expect(p, `${f}: ${e.program}`).toBeDefined();
        for (const n of [...(e.step !== undefined ? [e.step] : []), ...(e.steps ?? [])]) {
          expect(n, `${f}: ${e.program} step ${n}`).toBeLessThanOrEqual(p?.steps.length ?? 0);
        }
        for (const profile of e.profiles ?? []) expect(p?.profiles, `${f}: ${e.program} profile ${profile}`).toContain(profile);
      }
    }
  });
});

