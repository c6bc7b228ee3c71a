import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { join } from 'node:path';
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

  it('exits 2 naming file, step and field on a bad program', async () => {
    expect(await main(['node', 'iommufd-spec', 'exec', join(DATA, 'bad.json'), '--impl', A])).toBe(2);
    expect(err).toMatch(/bad\.json: step 2: fields: \$nothing is not bound by an earlier step/);
  });

  it('exits 2 on an implementation that cannot be opened', async () => {
    expect(await main(['node', 'iommufd-spec', 'exec', PROG, '--impl', 'no-such-impl'])).toBe(2);
    expect(err).toMatch(/unknown implementation/);
  });

  it('prints JSON runs', async () => {
    expect(await main(['node', 'iommufd-spec', 'exec', PROG, '--impl', A, '--profile', '7.3', '--json'])).toBe(0);
    const parsed = JSON.parse(out) as { runs: { steps: { status: string }[] }[] };
    expect(parsed.runs[0]?.steps.map((s) => s.status)).toEqual(['ok', 'ok', 'ok', 'failed']);
  });

  check('programs.diff.exit-codes', async () => {
    expect(await main(['node', 'iommufd-spec', 'diff', PROG, '--impl', A, '--impl', A, '--profile', '7.3'])).toBe(0);
    expect(await main(['node', 'iommufd-spec', 'diff', PROG, '--impl', A, '--impl', B, '--profile', '7.3'])).toBe(1);
    expect(out).toMatch(/4 IOMMU_DESTROY +DIFF +errno: .*=ENOENT .*=EINVAL/);
    expect(await main(['node', 'iommufd-spec', 'diff', PROG, '--impl', A, '--impl', B, '--profile', '7.3', '--expectations', join(DATA, 'fake-b.expectations.json')])).toBe(0);
    expect(await main(['node', 'iommufd-spec', 'diff', PROG, '--impl', A, '--profile', '7.3'])).toBe(2);
  });
});
