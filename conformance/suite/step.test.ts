import { describe, expect, it } from 'vitest';
import fc from 'fast-check';

import { validateProgram } from '../programs/load.ts';
import { PROGRAM_FORMAT } from '../programs/types.ts';
import { openAdapter } from '../adapter/open.ts';
import { caseArb, newModel } from './gen/commands.ts';
import { CaseSession } from './session.ts';
import { compileProgramStep, Ref, resolveStep, toProgramStep, type StepTemplate } from './step.ts';

describe('step templates', () => {
  it('resolve references with paths and offsets', () => {
    const t: StepTemplate = { op: 'ioctl', fields: { fd: new Ref('ctx'), cmd: 'IOMMU_IOAS_MAP', arg: { kind: 'struct', fields: { ioas_id: new Ref('ioas'), user_va: new Ref('buf', 'va', 4096n), length: 8192n } } } };
    const b = new Map<string, unknown>([['ctx', 3], ['ioas', 1], ['buf', { buffer: 1, va: 0x1000n, length: 65536 }]]);
    const r = resolveStep(t, (ref) => {
      let v: unknown = b.get(ref.name);
      for (const p of ref.path ? ref.path.split('.') : []) v = (v as Record<string, unknown>)[p];
      return v;
    });
    expect(r).toEqual({ op: 'ioctl', fd: 3, cmd: 'IOMMU_IOAS_MAP', arg: { kind: 'struct', fields: { ioas_id: 1, user_va: 0x2000n, length: 8192n } } });
  });

  it('suite.counterexample.round-trip', async () => {
    // Every step the generator makes, written as a program step and read back, resolves to the same request.
    const a = await openAdapter('ref', { profile: '7.3' });
    const caps = await a.call({ op: 'capabilities' });
    await a.close();
    if (!caps.ok) throw new Error('capabilities');
    const cases = fc.sample(caseArb('7.3', caps.result, { maxCommands: 30, abiRate: 0.3 }), { seed: 11, numRuns: 10 });
    let steps = 0;
    for (const gc of cases) {
      const impl = await openAdapter('ref', { profile: '7.3' });
      const s = new CaseSession({ impl, caps: caps.result, profile: '7.3', oracles: [], timeoutMs: 30_000, probeSeed: 1 });
      try {
        await fc.asyncModelRun(() => ({ model: newModel('7.3', caps.result, gc.enabled, gc.setting), real: s }), gc.commands);
      } finally {
        await impl.close();
      }
      if (s.trace.length === 0) continue; // a case whose commands all declined to run (a program needs a step)
      const program = validateProgram({ format: PROGRAM_FORMAT, name: 'round.trip', description: 'x', profiles: ['7.3'], steps: s.trace.map((t) => toProgramStep(t.template)) }, 'round-trip');
      program.steps.forEach((ps, i) => {
        const t = s.trace[i];
        if (!t?.request) return;
        const again = resolveStep(compileProgramStep(ps, '7.3'), (ref) => {
          let v: unknown = s.bindings.get(ref.name);
          for (const p of ref.path ? ref.path.split('.') : []) v = (v as Record<string, unknown>)[p];
          return v;
        });
        // Later bindings may shadow earlier values of a rebound name only for names bound twice; the generator never rebinds.
        expect(again).toEqual(t.request);
        steps++;
      });
    }
    expect(steps, `${steps} steps round-tripped`).toBeGreaterThan(30);
  });
});
