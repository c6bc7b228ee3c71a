/**
 * The machines against Linux, on every `npm test`: the corpus answers the
 * kernel lanes gave (recorded with `iommufd-spec exec conformance/programs/corpus
 * --impl linux-<P> --profile <P> --machines --record model/testdata/corpus-linux-<P>.jsonl.gz`)
 * replayed through the lifecycle oracle — no disagreement is allowed. And the
 * reference, run in process on the whole corpus.
 */
import { describe, expect } from 'vitest';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { check } from '../spec/clauses/check.ts';
import { ERRNO } from '../spec/uapi/errno.ts';
import { readReplay, replay, type ReplayLine } from './replay.ts';

const DATA = join(fileURLToPath(new URL('.', import.meta.url)), 'testdata');

function describeDisagreements(r: ReturnType<typeof replay>): string[] {
  return r.disagreements.map((d) => `${d.program} step ${d.step}: ${d.verdict.message}`);
}

/** Flips the first successful IOMMU_DESTROY the machines accepted into EBUSY: the replay must then disagree. */
function corrupt(lines: readonly ReplayLine[]): ReplayLine[] {
  let done = false;
  return lines.map((l) => {
    if (done || !('step' in l) || l.request['cmd'] !== 'IOMMU_DESTROY') return l;
    const result = l.response['result'] as { ret?: number } | undefined;
    if (result?.ret !== 0) return l;
    done = true;
    return { ...l, response: { ...l.response, result: { ...result, ret: -1, errno: ERRNO.EBUSY } } };
  });
}

function replayLane(profile: '6.12' | '7.3'): void {
  const lines = readReplay(join(DATA, `corpus-linux-${profile}.jsonl.gz`));
  const r = replay(lines);
  expect(r.steps).toBeGreaterThan(3000);
  expect(describeDisagreements(r)).toEqual([]);
  // The replay can fail: a kernel that refused one of those destroys would disagree.
  expect(replay(corrupt(lines)).disagreements.length).toBeGreaterThan(0);
}

describe('the machines against recorded kernel answers', () => {
  check('machines.kernel-replay.linux-6.12', () => replayLane('6.12'));
  check('machines.kernel-replay.linux-7.3', () => replayLane('7.3'));
});
