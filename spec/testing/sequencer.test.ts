import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../clauses/registry.ts';
import { LONG_RUNNING } from './sequencer.test-support.ts';

describe('the long-running-first sequencer', () => {
  it('names test files that exist (a renamed file would silently lose its place)', () => {
    expect(LONG_RUNNING.filter((path) => !existsSync(join(REPO_ROOT, path)))).toStrictEqual([]);
  });
});
