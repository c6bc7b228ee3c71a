/**
 * No false objections: programs under `fixtures/clean/` are correct uses of
 * the uAPI that an oracle once objected to on a correct implementation (each
 * program's description says which and why). Replayed on the reference under
 * every oracle, nothing may object.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { Program } from '../programs/types.ts';
import { replayProgram } from './replay.ts';

const DIR = new URL('./fixtures/clean/', import.meta.url);
const files = readdirSync(DIR).filter((f) => f.endsWith('.json')).sort();

describe('no false objections on a correct implementation', () => {
  it('has programs to replay', () => expect(files.length).toBeGreaterThan(0));
  for (const file of files) {
    it(`suite.clean.${file.replace(/\.json$/, '')}`, async () => {
      const program = JSON.parse(readFileSync(new URL(file, DIR), 'utf8')) as Program;
      const r = await replayProgram(program, { impl: 'ref', oracle: 'full' });
      expect(r.objections.map((o) => `${o.property}: ${o.message}`)).toEqual([]);
    }, 120_000);
  }
});
