import { describe, expect } from 'vitest';
import { check } from '../../spec/clauses/check.ts';
import { commandLabel, errnoClauses, errnoCoverage, renderErrnoCoverage } from './coverage.ts';
import { resolveCommand } from '../../spec/abi/arg.ts';
import { fakeAdapter, fakeCapabilities } from './fake.test-support.ts';
import { validateProgram } from './load.ts';
import { runProgram } from './run.ts';
import type { SessionResult } from './session.ts';
import { ERRNO } from '../../spec/uapi/errno.ts';

describe('errno coverage', () => {
  check('programs.coverage.errnos-reached', async () => {
    const program = validateProgram(
      {
        format: 'iommufd-program/1',
        name: 'cov.test',
        description: 'destroy of nothing',
        profiles: ['7.3'],
        steps: [
          { op: 'open', node: 'iommu', bind: { fd: 'fd' } },
          { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_DESTROY', fields: { id: 9 } },
          { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_IOAS_MAP', fields: { ioas_id: 9 } },
        ],
      },
      'cov.json',
    );
    const adapter = fakeAdapter();
    const run = await runProgram({ program, file: 'cov.json' }, adapter, fakeCapabilities({}));
    await adapter.close();
    const session: SessionResult = { implementation: 'fake', profile: '7.3', order: 'file', runs: [run], isolation: { mode: 'new-adapter', resets: 0, reopens: 0, reopenReasons: [] } };
    const clauses = [
      { id: 'DESTROY.ENOENT', command: 'IOMMU_DESTROY', errno: 'ENOENT', profiles: ['6.12', '7.3'] as const },
      { id: 'DESTROY.EBUSY', command: 'IOMMU_DESTROY', errno: 'EBUSY', profiles: ['6.12', '7.3'] as const },
      { id: 'VIOMMU.X', command: 'IOMMU_VIOMMU_ALLOC', errno: 'EINVAL', profiles: ['6.12'] as const },
    ];
    const cov = errnoCoverage(clauses, [session]);
    expect(cov.rows.map((r) => [r.clause.id, r.cells[0]])).toEqual([
      ['DESTROY.ENOENT', 'reached'],
      ['DESTROY.EBUSY', 'missed'],
      ['VIOMMU.X', 'n/a'],
    ]);
    expect(cov.unclaimed[0]).toEqual(['IOMMU_IOAS_MAP ENOENT']);
    expect(renderErrnoCoverage(cov)).toMatch(/fake\[7\.3\]: 1\/2 errno clauses reached/);
  });

  check('programs.coverage.names-commands', () => {
    // A program may give the request number: coverage names the command, and
    // shows a number no command of the profile has as an unknown request.
    const destroy = resolveCommand('7.3', 'IOMMU_DESTROY')?.request ?? NaN;
    expect(commandLabel('7.3', String(destroy))).toBe('IOMMU_DESTROY');
    expect(commandLabel('7.3', 'IOMMU_IOAS_MAP')).toBe('IOMMU_IOAS_MAP');
    expect(commandLabel('7.3', String(destroy - 1))).toBe(`unknown ioctl 0x${(destroy - 1).toString(16)}`);
    const session: SessionResult = {
      implementation: 'fake',
      profile: '7.3',
      order: 'file',
      isolation: { mode: 'new-adapter', resets: 0, reopens: 0, reopenReasons: [] },
      runs: [{ steps: [{ step: 1, op: 'ioctl', command: String(destroy), status: 'failed', errno: ERRNO.ENOENT, symbolic: [], violations: [] }] } as unknown as SessionResult['runs'][number]],
    };
    const cov = errnoCoverage([{ id: 'DESTROY.ENOENT', command: 'IOMMU_DESTROY', errno: 'ENOENT', profiles: ['7.3'] as const }], [session]);
    expect(cov.rows[0]?.cells).toEqual(['reached']);
    expect([...(cov.columns[0]?.commands.keys() ?? [])]).toEqual(['IOMMU_DESTROY']);
  });

  check('programs.coverage.clauses-loaded', async () => {
    const clauses = await errnoClauses();
    expect(clauses.length).toBeGreaterThan(0);
    for (const c of clauses) expect(c.kind === 'errno' && typeof c.command === 'string' && typeof c.errno === 'string').toBe(true);
  });
});
