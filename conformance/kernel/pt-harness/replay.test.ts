/**
 * Replays the committed page-table vectors (recorded from the kernel's own
 * page-table code by `iommufd-spec kernel pt-vectors`) against our core: every
 * operation's answer and every table, byte for byte in canonical form. No
 * kernel source is needed here; the kernel lane regenerates the vectors and
 * fails when these files are stale.
 */
import { describe, expect } from 'vitest';
import { check } from '../../../spec/clauses/check.ts';
import type { Profile } from '../../../spec/uapi/profiles.ts';
import { configs } from './configs.ts';
import { committedVectorFiles, readVectors, replay, vectorPath } from './vectors.ts';

function replayProfile(profile: Profile): void {
  const cfgs = configs(profile);
  // Every configuration the core models has its vector file: nothing passes by being absent.
  const files = committedVectorFiles().filter((f) => f.includes(`/${profile}/`));
  expect(files.sort()).toEqual(cfgs.map((c) => vectorPath(profile, c.name)).sort());
  let cases = 0;
  const mismatches: string[] = [];
  for (const f of files) {
    const v = readVectors(f);
    if (!('errno' in v.domain)) expect(v.cases.length, f).toBeGreaterThan(10);
    cases += v.cases.length;
    for (const m of replay(v)) mismatches.push(`${m.where} ${m.op} ${m.field}: kernel ${m.kernel} | core ${m.core}`);
  }
  expect(cases).toBeGreaterThan(1000);
  expect(mismatches).toEqual([]);
}

describe('page tables against the kernel-recorded vectors', () => {
  check('ref.pagetable.kernel-vectors-7.3', () => replayProfile('7.3'), 120_000);
  check('ref.pagetable.kernel-vectors-6.12', () => replayProfile('6.12'), 120_000);
});
