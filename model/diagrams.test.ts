/**
 * The generated machine pages (spec/machines/) must match the machines:
 * regenerate with `npx tsx model/diagrams.ts` (or UPDATE_MACHINE_PAGES=1).
 */
import { describe, expect } from 'vitest';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { check } from '../spec/clauses/check.ts';
import { generatePages, PAGES_DIR, writePages } from './diagrams.ts';

describe('machine pages', () => {
  check('machines.pages-current', () => {
    if (process.env['UPDATE_MACHINE_PAGES']) writePages();
    const pages = generatePages();
    const stale: string[] = [];
    for (const [name, text] of pages) {
      const file = join(PAGES_DIR, name);
      const want = text.endsWith('\n') ? text : `${text}\n`;
      if (!existsSync(file) || readFileSync(file, 'utf8') !== want) stale.push(name);
    }
    const extra = existsSync(PAGES_DIR) ? readdirSync(PAGES_DIR).filter((f) => !pages.has(f)) : [];
    expect({ stale, extra }, 'stale machine pages: run `npx tsx model/diagrams.ts`').toEqual({ stale: [], extra: [] });
    // Every guard of every machine appears on its page, linked to its clauses.
    const ioas = pages.get('ioas.md') ?? '';
    expect(ioas).toContain('```mermaid');
    expect(ioas).toContain('`hasUsers`');
    expect(ioas).toContain('[DESTROY.EBUSY](clauses.md#destroy-ebusy)');
  });
});
