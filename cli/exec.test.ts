import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { join } from 'node:path';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { loadExpectationsFile } from '../conformance/programs/expectations.ts';
import { main } from './main.ts';
import { check } from '../spec/clauses/check.ts';

const DATA = join(import.meta.dirname, '../conformance/programs/testdata');
const A = join(DATA, 'fake-a.ts');
const B = join(DATA, 'fake-b.ts');
const PROG = join(DATA, 'destroy.json');

let out = '';
let err = '';
beforeEach(() => {
  out = '';
  err = '';
  vi.spyOn(process.stdout, 'write').mockImplementation((s: string | Uint8Array) => ((out += String(s)), true));
  vi.spyOn(process.stderr, 'write').mockImplementation((s: string | Uint8Array) => ((err += String(s)), true));
});
afterEach(() => vi.restoreAllMocks());

describe('iommufd-spec exec / diff', () => {
  check('programs.exec.exit-codes', async () => {
    expect(await main(['node', 'iommufd-spec', 'exec', PROG, '--impl', A, '--profile', '7.3'])).toBe(0);
    expect(out).toMatch(/4 steps: 3 ok, 1 errno, 0 skipped, 0 errors; 0 failures/);
    expect(await main(['node', 'iommufd-spec', 'exec', PROG, '--impl', B, '--profile', '7.3'])).toBe(1);
    expect(out).toMatch(/VIOLATED: expected errno ENOENT, got EINVAL/);
    expect(await main(['node', 'iommufd-spec', 'exec', PROG, '--impl', B, '--profile', '7.3', '--expectations', join(DATA, 'fake-b.expectations.json')])).toBe(0);
    expect(out).toMatch(/known \(kernel-bug\)/);
  });

  check('programs.exec.unlisted-skip-fails', async () => {
    const SKIP = join(DATA, 'skip.json');
    // Step 3 (kvm_create) does not run on the fake: unlisted, it fails the run …
    expect(await main(['node', 'iommufd-spec', 'exec', SKIP, '--impl', A, '--profile', '7.3', '--expectations', join(DATA, 'skip.none.json')])).toBe(1);
    expect(out).toMatch(/UNLISTED SKIP: skipped: op kvm_create: fake — no unsupported entry lists it/);
    // … listed as unsupported, it is known …
    out = '';
    expect(await main(['node', 'iommufd-spec', 'exec', SKIP, '--impl', A, '--profile', '7.3', '--expectations', join(DATA, 'skip.listed.json')])).toBe(0);
    expect(out).toMatch(/listed unsupported: test entry: the fakes have no KVM/);
    // … and an entry listing a step that runs is stale, and fails too.
    out = '';
    expect(await main(['node', 'iommufd-spec', 'exec', SKIP, '--impl', A, '--profile', '7.3', '--expectations', join(DATA, 'skip.stale.json')])).toBe(1);
    expect(out).toMatch(/STALE ENTRY: listed as unsupported, but it ran \(ok\): remove it from the entry/);
    // --update-expectations writes the entry from what the run skipped.
    const dir = mkdtempSync(join(tmpdir(), 'iommufd-spec-exp-'));
    const file = join(dir, 'fake-a.json');
    writeFileSync(file, readFileSync(join(DATA, 'skip.stale.json')));
    out = '';
    expect(await main(['node', 'iommufd-spec', 'exec', SKIP, '--impl', A, '--profile', '7.3', '--expectations', file, '--update-expectations'])).toBe(0);
    expect(loadExpectationsFile(file).entries).toEqual([{ program: 'testdata.skip', steps: [3], kind: 'unsupported', reason: 'op kvm_create: fake' }]);
    rmSync(dir, { recursive: true });
  });

  it('exits 2 naming file, step and field on a bad program', async () => {
    expect(await main(['node', 'iommufd-spec', 'exec', join(DATA, 'bad.json'), '--impl', A])).toBe(2);
    expect(err).toMatch(/bad\.json: step 2: fields: \$nothing is not bound by an earlier step/);
  });

  it('exits 2 on an implementation that cannot be opened', async () => {
    expect(await main(['node', 'iommufd-spec', 'exec', PROG, '--impl', 'no-such-impl'])).toBe(2);
    expect(err).toMatch(/unknown implementation/);
  });

  it('prints a JSON report: a summary and each step\'s result, not its body', async () => {
    expect(await main(['node', 'iommufd-spec', 'exec', PROG, '--impl', A, '--profile', '7.3', '--json'])).toBe(0);
    const parsed = JSON.parse(out) as {
      summary: { programs: number; steps: Record<string, number>; failures: number };
      programs: { steps: Record<string, unknown>[] }[];
    };
    expect(parsed.summary).toMatchObject({ programs: 1, steps: { ok: 3, errno: 1, skipped: 0, error: 0 }, failures: 0 });
    expect(parsed.programs[0]?.steps.map((s) => s['status'])).toEqual(['ok', 'ok', 'ok', 'failed']);
    expect(parsed.programs[0]?.steps[3]).toEqual({ step: 4, op: 'ioctl IOMMU_DESTROY', status: 'failed', ret: -1, errno: 'ENOENT' });
    expect(out).not.toMatch(/"request"|"out"|"fields"/);
  });

  check('programs.diff.exit-codes', async () => {
    expect(await main(['node', 'iommufd-spec', 'diff', PROG, '--impl', A, '--impl', A, '--profile', '7.3'])).toBe(0);
    expect(await main(['node', 'iommufd-spec', 'diff', PROG, '--impl', A, '--impl', B, '--profile', '7.3'])).toBe(1);
    expect(out).toMatch(/4 IOMMU_DESTROY +DIFF +errno: .*=ENOENT .*=EINVAL/);
    expect(await main(['node', 'iommufd-spec', 'diff', PROG, '--impl', A, '--impl', B, '--profile', '7.3', '--expectations', join(DATA, 'fake-b.expectations.json')])).toBe(0);
    expect(await main(['node', 'iommufd-spec', 'diff', PROG, '--impl', A, '--profile', '7.3'])).toBe(2);
  });
});
