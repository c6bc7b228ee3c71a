import { describe, expect, it } from 'vitest';
import { check } from '../../spec/clauses/check.ts';
import { diffRuns, unacceptedDifferences } from './diff.ts';
import { parseExpectations } from './expectations.ts';
import { fakeAdapter, fakeCapabilities, type FakeOptions } from './fake.test-support.ts';
import { ProgramError, validateProgram } from './load.ts';
import { resolveStep, runProgram, type ProgramRun } from './run.ts';
import { ResolveError } from './values.ts';
import type { LoadedProgram } from './types.ts';
import { judgeRun } from './verdict.ts';
import { updateUnsupported } from './update-expectations.ts';
import { ERRNO } from '../../spec/uapi/errno.ts';

function program(steps: unknown[], extra: Record<string, unknown> = {}): LoadedProgram {
  const data = { format: 'iommufd-program/1', name: 'test.prog', description: 'a test', profiles: ['7.3'], steps, ...extra };
  return { program: validateProgram(data, 'test.json'), file: 'test.json' };
}

async function run(p: LoadedProgram, o: FakeOptions = {}): Promise<ProgramRun> {
  const adapter = fakeAdapter(o);
  try {
    return await runProgram(p, adapter, fakeCapabilities(o));
  } finally {
    await adapter.close();
  }
}

const OPEN = { op: 'open', node: 'iommu', bind: { fd: 'fd' } };
const ALLOC = { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_IOAS_ALLOC', fields: {}, bind: { ioas: 'out.out_ioas_id' }, expect: { ok: true } };

describe('program runner', () => {
  check('programs.runner.binds-symbolic-handles', async () => {
    const p = program([
      OPEN,
      ALLOC,
      { op: 'mem_alloc', length: 16384, bind: { buf: '.' } },
      {
        op: 'ioctl',
        fd: '$fd',
        cmd: 'IOMMU_IOAS_MAP',
        fields: { ioas_id: '$ioas', flags: 'IOMMU_IOAS_MAP_FIXED_IOVA|IOMMU_IOAS_MAP_READABLE', user_va: { $: 'buf', field: 'va', add: 4096 }, length: '4096', iova: '0x2000000' },
        expect: { ok: true, out: { iova: '0x2000000' } },
      },
      { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_DESTROY', fields: { id: '$ioas' }, expect: { ok: true } },
      { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_DESTROY', fields: { id: '$ioas' }, expect: { errno: ['ENOENT'] } },
    ]);
    const r = await run(p, { idBase: 7, vaBase: 0x10000000n });
    expect(r.steps.map((s) => s.status)).toEqual(['ok', 'ok', 'ok', 'ok', 'ok', 'failed']);
    expect(r.steps.flatMap((s) => s.violations)).toEqual([]);
    const map = r.steps[3]?.request;
    expect(map?.op === 'ioctl' && map.arg.kind === 'struct' ? map.arg.fields : undefined).toMatchObject({
      ioas_id: 7,
      flags: 5,
      user_va: 0x10001000n,
      length: 4096n,
    });
  });

  it('reports a violated expect set', async () => {
    const p = program([OPEN, { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_DESTROY', fields: { id: 99 }, expect: { errno: ['ENOENT'] } }]);
    const r = await run(p, { destroyMissingErrno: ERRNO.EINVAL });
    expect(r.steps[1]?.violations).toEqual(['expected errno ENOENT, got EINVAL']);
  });

  it('skips steps the capabilities lack, and the steps that need their results', async () => {
    const p = program([OPEN, ALLOC, { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_DESTROY', fields: { id: '$ioas' }, expect: { ok: true } }, { op: 'kvm_create' }]);
    const r = await run(p, { unsupported: ['IOMMU_IOAS_ALLOC'] });
    expect(r.steps.map((s) => s.status)).toEqual(['ok', 'skipped', 'skipped', 'skipped']);
    expect(r.steps[1]?.reason).toContain('the fake does not have it');
    expect(r.steps[2]?.reason).toContain('needs $ioas from step 2');
    expect(r.steps[3]?.reason).toContain('op kvm_create');
  });

  it('binds nothing from a result outside its expect set', async () => {
    const p = program([
      OPEN,
      { ...ALLOC, expect: { ok: true, out: { out_ioas_id: 99 } } },
      { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_DESTROY', fields: { id: '$ioas' } },
    ]);
    const r = await run(p);
    expect(r.steps[1]?.violations).toHaveLength(1);
    expect(r.steps[2]?.status).toBe('skipped');
    expect(r.steps[2]?.reason).toBe('needs $ioas from step 2 (failed)');
  });

  it('skips a program for another profile', async () => {
    const r = await run(program([OPEN], { profiles: ['6.12'] }));
    expect(r.skipped).toMatch(/6\.12/);
  });

  it('batches steps that do not need each other', async () => {
    const batches: number[] = [];
    const p = program([OPEN, ALLOC, ALLOC, ALLOC, { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_DESTROY', fields: { id: '$ioas' } }]);
    // open | alloc alloc alloc (the 2nd rebinds $ioas, but only the destroy reads it) | destroy
    await run(p, { batches });
    expect(batches).toEqual([3]);
  });

  it('accepts oneOf alternatives and {in: [...]} sets', async () => {
    const p = program([
      OPEN,
      { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_DESTROY', fields: { id: 5 }, expect: { oneOf: [{ errno: ['ENOENT'] }, { ok: true }] } },
      ALLOC,
      { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_IOAS_ALLOC', fields: {}, expect: { out: { out_ioas_id: { in: [2, 3] } } } },
    ]);
    const r = await run(p);
    expect(r.steps.flatMap((s) => s.violations)).toEqual([]);
  });
});

describe('program validation', () => {
  check('programs.load.names-file-step-field', () => {
    const bad = (steps: unknown[]): ProgramError => {
      try {
        program(steps);
      } catch (e) {
        if (e instanceof ProgramError) return e;
        throw e;
      }
      throw new Error('accepted a bad program');
    };
    expect(bad([OPEN, { op: 'ioctl', fd: '$nope', cmd: 'IOMMU_DESTROY', fields: {} }]).message).toBe('test.json: step 2: fd: $nope is not bound by an earlier step');
    expect(bad([OPEN, { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_DESTROY', fields: { id: 'NO_SUCH_CONSTANT' } }]).message).toContain('step 2: fields.id: unknown constant NO_SUCH_CONSTANT');
    expect(bad([OPEN, { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_DESTROY', fields: {}, expect: { errno: ['ENOPE'] } }]).message).toContain('step 2: expect.errno: unknown errno ENOPE');
    expect(bad([{ op: 'open' }]).step).toBe(1);
    expect(bad([{ op: 'frobnicate' }]).field).toBe('op');
    // Bytes in the wire's spelling, or two spellings at once, are not bytes of the program format.
    expect(bad([OPEN, { op: 'dma', device: 1, iova: '0x1000', dir: 'write', data: { b64: 'AAECAw==' } }]).message).toContain('step 2: data: must be bytes');
    expect(bad([OPEN, { op: 'mem_write', buffer: 1, offset: 0, data: { hex: '00', base64: 'AA==' } }]).field).toBe('data');
    expect(bad([OPEN, { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_DESTROY', fields: { id: 1 }, tail: { fill: 0 } }]).field).toBe('tail');
  });

  it('refuses base64 that is not base64 rather than sending fewer bytes', () => {
    const empty = new Map<string, unknown>();
    // Buffer.from drops what is not base64; the program would send fewer bytes than it spells.
    expect(() => resolveStep({ op: 'mem_write', buffer: 1, offset: 0, data: { base64: 'AA*B' } } as never, '7.3', empty)).toThrow(/data: base64 must be standard base64/);
    const ok = resolveStep({ op: 'mem_write', buffer: 1, offset: 0, data: { base64: 'AAECAw==' } } as never, '7.3', empty) as { data: Uint8Array };
    expect([...ok.data]).toEqual([0, 1, 2, 3]);
  });
});

describe('diff', () => {
  const P = program([
    OPEN,
    ALLOC,
    ALLOC,
    { op: 'mem_alloc', length: 8192, bind: { buf: '.' } },
    { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_IOAS_MAP', fields: { ioas_id: '$ioas', flags: 'IOMMU_IOAS_MAP_READABLE', user_va: '$buf.va', length: '4096' }, bind: { iova: 'out.iova' } },
    { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_DESTROY', fields: { id: 77 } },
  ]);

  check('programs.diff.ids-compared-symbolically', async () => {
    const a = await run(P, { idBase: 1, fdBase: 3, vaBase: 0x1000000n });
    const b = await run(P, { idBase: 40, fdBase: 9, vaBase: 0x7000000n });
    expect(unacceptedDifferences(diffRuns(a, b, []))).toEqual([]);
  });

  it('rejects ids that do not map one to one', async () => {
    // The same program, but b's second allocation returns the id a's first had:
    // a: 1, 2; b: 5, 5 is impossible from the fake, so compare a run with itself shifted.
    const a = await run(P, { idBase: 1 });
    const b = await run(P, { idBase: 1 });
    const steps = b.steps.map((s) => (s.step === 3 && s.out ? { ...s, out: { ...s.out, out_ioas_id: 1 } } : s));
    const d = unacceptedDifferences(diffRuns(a, { ...b, steps }, []));
    expect(d.map((x) => [x.step, x.field])).toEqual([[3, 'out.out_ioas_id']]);
  });

  check('programs.diff.rejects-unexpected-difference', async () => {
    const a = await run(P, { autoIova: 0x1000000n, destroyMissingErrno: ERRNO.ENOENT });
    const b = await run(P, { autoIova: 0x2000000n, destroyMissingErrno: ERRNO.EINVAL });
    const d = unacceptedDifferences(diffRuns(a, b, []));
    expect(d.map((x) => `${x.step} ${x.field} ${x.a} ${x.b}`)).toEqual(['5 out.iova 0x1000000 0x2000000', '6 errno ENOENT EINVAL']);
  });

  check('programs.diff.accepts-allowed-sets', async () => {
    const steps = P.program.steps.map((s, i) =>
      i === 4 ? { ...s, expect: { ok: true, out: { iova: { range: ['0x1000000', '0x3000000'] } } } } : i === 5 ? { ...s, expect: { errno: ['ENOENT', 'EINVAL'] } } : s,
    );
    const Q: LoadedProgram = { ...P, program: { ...P.program, steps } };
    const a = await run(Q, { autoIova: 0x1000000n, destroyMissingErrno: ERRNO.ENOENT });
    const b = await run(Q, { autoIova: 0x2000000n, destroyMissingErrno: ERRNO.EINVAL });
    const d = diffRuns(a, b, []);
    expect(unacceptedDifferences(d)).toEqual([]);
    expect(d.steps.flatMap((s) => s.differences.map((x) => x.verdict))).toEqual(['accepted', 'accepted']);
    // Outside the set: not accepted.
    const c = await run(Q, { autoIova: 0x9000000n, destroyMissingErrno: ERRNO.EINVAL });
    expect(unacceptedDifferences(diffRuns(a, c, [])).map((x) => x.field)).toEqual(['out.iova']);
  });

  check('programs.diff.accepts-expectation-entries', async () => {
    const a = await run(P, { destroyMissingErrno: ERRNO.ENOENT });
    const b = await run(P, { destroyMissingErrno: ERRNO.EINVAL });
    const file = parseExpectations(
      JSON.stringify({
        implementation: 'fake',
        entries: [{ program: 'test.prog', step: 6, field: 'errno', observed: 'EINVAL', expected: 'ENOENT', kind: 'kernel-bug', reason: 'test entry' }],
      }),
      'x.json',
    );
    const d = diffRuns(a, b, file.entries);
    expect(unacceptedDifferences(d)).toEqual([]);
    expect(d.steps[5]?.differences[0]?.verdict).toBe('known');
    // An entry for another observed value does not cover it.
    const other = parseExpectations(
      JSON.stringify({ implementation: 'fake', entries: [{ program: 'test.prog', step: 6, observed: 'EPERM', kind: 'kernel-open', reason: 'x' }] }),
      'y.json',
    );
    expect(unacceptedDifferences(diffRuns(a, b, other.entries))).toHaveLength(1);
  });

  it('treats an empty flexible array as an absent field', async () => {
    const a = await run(P);
    const b = await run(P);
    const steps = b.steps.map((s) => (s.step === 6 && s.out ? { ...s, out: { ...s.out, data: [] } } : s));
    expect(unacceptedDifferences(diffRuns(a, { ...b, steps }, []))).toEqual([]);
  });

  it('validates expectations files', () => {
    expect(() => parseExpectations('{"implementation":"x","entries":[{"program":"p","step":1,"kind":"pending","reason":"r"}]}', 'f.json')).toThrow(/roadmap/);
    expect(() => parseExpectations('{"implementation":"x","entries":[{"program":"p","step":0,"kind":"kernel-bug","reason":"r"}]}', 'f.json')).toThrow(/step/);
  });
});

describe('allowed-value matchers', () => {
  check('programs.expect.matchers', async () => {
    const { matchValue } = await import('./expect.ts');
    const ctx = { profile: '7.3' as const, bindings: new Map<string, unknown>([['x', 7]]) };
    const bytes = Uint8Array.from([0xef, 0xbe, 0, 0, 1, 2, 3, 4]);
    expect(matchValue({ le32: { '0': '0xbeef' } }, bytes, ctx, 'f')).toBe(true);
    expect(matchValue({ le32: { '4': 1 } }, bytes, ctx, 'f')).toBe(false);
    expect(matchValue({ all: [{ aligned: 4096 }, { range: ['0x1000', '0x3000'] }] }, 0x2000n, ctx, 'f')).toBe(true);
    expect(matchValue({ all: [{ aligned: 4096 }, { range: ['0x1000', '0x3000'] }] }, 0x2800n, ctx, 'f')).toBe(false);
    expect(matchValue({ not: { in: [1, 2] } }, 3, ctx, 'f')).toBe(true);
    expect(matchValue('$x', 7n, ctx, 'f')).toBe(true);
    expect(matchValue('IOMMU_IOAS_MAP_READABLE|IOMMU_IOAS_MAP_WRITEABLE', 6, ctx, 'f')).toBe(true);
    expect(matchValue({ hex: 'efbe' }, bytes.subarray(0, 2), ctx, 'f')).toBe(true);
  });
});

describe('string results and array sets', () => {
  check('programs.expect.string-results', async () => {
    const { checkExpect, matchValue } = await import('./expect.ts');
    const ctx = { profile: '7.3' as const, bindings: new Map<string, unknown>([['buf', { buffer: 2 }]]) };
    const dma = { ok: false, fault: 'permission' };
    // A dma fault and an iotlb permission are strings: compared as strings, not read as constants.
    expect(checkExpect({ ok: true, result: { ok: false, fault: 'permission' } }, { status: 'ok', result: dma }, ctx)).toEqual([]);
    expect(checkExpect({ result: { fault: 'unmapped' } }, { status: 'ok', result: dma }, ctx)).toEqual(['result.fault: expected unmapped, got permission']);
    const entries = [
      { tag: 't', iova: 0x1000000n, pa: 4096n, size: 4096, perm: 'r' },
      { tag: 't', iova: 0x2000000n, pa: 8192n, size: 4096, perm: 'rw' },
    ];
    expect(checkExpect({ result: { entries: { some: { iova: '0x1000000', perm: 'r' } } } }, { status: 'ok', result: { entries } }, ctx)).toEqual([]);
    expect(checkExpect({ result: { entries: { some: { iova: '0x1000000', perm: 'rw' } } } }, { status: 'ok', result: { entries } }, ctx)).toHaveLength(1);
    expect(checkExpect({ result: { entries: { none: { iova: '0x3000000' } } } }, { status: 'ok', result: { entries } }, ctx)).toEqual([]);
    expect(checkExpect({ result: { entries: { every: { size: 4096 } } } }, { status: 'ok', result: { entries } }, ctx)).toEqual([]);
    expect(checkExpect({ result: { touched: [{ buffer: '$buf.buffer', offset: 0 }] } }, { status: 'ok', result: { touched: [{ buffer: 2, offset: 0, length: 3 }] } }, ctx)).toEqual([]);
    // In struct fields a word is still a constant expression.
    expect(matchValue('IOMMU_IOAS_MAP_READABLE', 4, ctx, 'out.flags')).toBe(true);
  });
});

describe('verdicts: skips cannot hide', () => {
  const SKIP = program([OPEN, ALLOC, { op: 'kvm_create' }]);
  const entries = (e: unknown[]) => parseExpectations(JSON.stringify({ implementation: 'fake', entries: e }), 'e.json').entries;
  const UNSUPPORTED = { kind: 'unsupported', reason: 'no KVM' };

  check('programs.verdict.unlisted-skip-fails', async () => {
    const r = await run(SKIP);
    expect(r.steps[2]?.status).toBe('skipped');
    expect(judgeRun(r, []).failures.map((f) => [f.step, f.kind])).toEqual([[3, 'unlisted-skip']]);
    const listed = judgeRun(r, entries([{ program: 'test.prog', steps: [3], ...UNSUPPORTED }]));
    expect(listed.failures).toEqual([]);
    expect(listed.known.map((f) => f.step)).toEqual([3]);
    // An entry for another profile does not list it.
    expect(judgeRun(r, entries([{ program: 'test.prog', steps: [3], profiles: ['6.12'], ...UNSUPPORTED }])).failures).toHaveLength(1);
  });

  check('programs.verdict.stale-entry-fails', async () => {
    const r = await run(SKIP);
    const stale = judgeRun(r, entries([{ program: 'test.prog', steps: [2, 3], ...UNSUPPORTED }]));
    expect(stale.failures.map((f) => [f.step, f.kind])).toEqual([[2, 'stale-entry']]);
    // A whole-program entry for a program that ran is stale, and lists none of its steps.
    const whole = judgeRun(r, entries([{ program: 'test.prog', ...UNSUPPORTED }]));
    expect(whole.failures.map((f) => [f.step, f.kind])).toEqual([[undefined, 'stale-entry'], [3, 'unlisted-skip']]);
  });

  it('a program skipped for its requirements needs a whole-program entry; one for another profile needs none', async () => {
    const needs = program([OPEN], { requires: { features: ['IOMMU_HWPT_DATA_SELFTEST'] } });
    const r = await run(needs);
    expect(r.skipKind).toBe('unsupported');
    expect(r.skipped).toMatch(/needs feature IOMMU_HWPT_DATA_SELFTEST: not listed/);
    expect(judgeRun(r, []).failures.map((f) => f.kind)).toEqual(['unlisted-skip']);
    expect(judgeRun(r, entries([{ program: 'test.prog', ...UNSUPPORTED }])).failures).toEqual([]);
    const other = await run(program([OPEN], { profiles: ['6.12'] }));
    expect(other.skipKind).toBe('profile');
    expect(judgeRun(other, []).failures).toEqual([]);
  });

  it('writes unsupported entries from what a run skipped, and those entries pass the run', async () => {
    const r = await run(SKIP);
    const { file } = updateUnsupported({ implementation: 'fake', entries: [] }, [r]);
    expect(file.entries).toEqual([{ program: 'test.prog', steps: [3], kind: 'unsupported', reason: 'op kvm_create: fake' }]);
    expect(judgeRun(r, file.entries).failures).toEqual([]);
    // The reference's file must name a roadmap draft for every entry.
    expect(() => updateUnsupported({ implementation: 'ref', entries: [] }, [r], { requireRoadmap: true })).toThrow(/roadmap/);
  });

  it('validates unsupported entries', () => {
    const bad = (e: unknown, impl = 'x'): string => {
      try {
        parseExpectations(JSON.stringify({ implementation: impl, entries: [e] }), 'f.json');
      } catch (err) {
        return (err as Error).message;
      }
      return '(accepted)';
    };
    expect(bad({ program: 'p', step: 2, kind: 'unsupported', reason: 'r' })).toMatch(/steps/);
    expect(bad({ program: 'p', steps: [3, 2], kind: 'unsupported', reason: 'r' })).toMatch(/increasing/);
    expect(bad({ program: 'p', steps: [2], kind: 'unsupported', reason: 'r' }, 'ref')).toMatch(/roadmap/);
    expect(bad({ program: 'p', profiles: ['5.10'], kind: 'unsupported', reason: 'r' })).toMatch(/profiles/);
    expect(bad({ program: 'p', steps: [2], kind: 'unsupported', reason: 'r', roadmap: '9-x.md' }, 'ref')).toBe('(accepted)');
  });
});

describe('environment ops in programs', () => {
  it('gives u64 fields the contract type whatever numeral the program wrote, and names a field that is no integer', () => {
    const empty = new Map<string, unknown>();
    const dma = resolveStep({ op: 'dma', device: 1, iova: 1048576, dir: 'read', length: 8 } as never, '7.3', empty);
    expect(dma).toMatchObject({ op: 'dma', iova: 1048576n, length: 8 });
    expect(resolveStep({ op: 'translate', device: 1, iova: '0x2000' } as never, '7.3', empty)).toMatchObject({ iova: 0x2000n });
    expect(resolveStep({ op: 'set_process', rlimitMemlock: 65536 } as never, '7.3', empty)).toMatchObject({ rlimitMemlock: 65536n });
    expect(() => resolveStep({ op: 'translate', device: 1, iova: 'lots' } as never, '7.3', empty)).toThrow(ResolveError);
    expect(() => resolveStep({ op: 'translate', device: 1, iova: 'lots' } as never, '7.3', empty)).toThrow(/iova/);
  });
});
