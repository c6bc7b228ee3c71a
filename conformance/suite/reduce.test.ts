import { describe, expect, it } from 'vitest';
import { reduceSteps, type Trial } from './reduce.ts';
import { Ref, type StepTemplate } from './step.ts';

const step = (name: string, uses?: string): StepTemplate => ({ op: 'open', fields: { node: 'iommu', ...(uses && { uses }) }, bind: { [name]: 'fd' } }) as unknown as StepTemplate;
const nameOf = (t: StepTemplate): string => Object.keys(t.bind ?? {})[0] as string;
const usesOf = (t: StepTemplate): string | undefined => (t.fields as { uses?: string }).uses;

/**
 * A stand-in for a session: a step whose input no earlier step bound is skipped
 * (left out of `executed`), and the program fails when it runs `x` and `y`,
 * stopping at the later of the two.
 */
function fails(needs: readonly string[]) {
  let trials = 0;
  const test = async (steps: readonly StepTemplate[]): Promise<Trial<string>> => {
    trials++;
    const bound = new Set<string>();
    const executed: StepTemplate[] = [];
    for (const t of steps) {
      const u = usesOf(t);
      if (u && !bound.has(u)) continue;
      bound.add(nameOf(t));
      executed.push(t);
      if (needs.every((n) => bound.has(n))) return { result: executed.map(nameOf).join(','), executed };
    }
    return { result: undefined, executed };
  };
  return { test, trials: () => trials };
}

describe('suite.reduce', () => {
  it('suite.reduce.drops-steps-the-failure-does-not-need', async () => {
    const prog = [step('a'), step('b'), step('c', 'a'), step('x', 'c'), step('d', 'b'), step('y'), step('z', 'x')];
    const f = fails(['x', 'y']);
    const r = await reduceSteps(prog, 'original', f.test);
    // x needs c needs a; y alone; b, d and z (after the failure) go.
    expect(r.steps.map(nameOf)).toEqual(['a', 'c', 'x', 'y']);
    expect(r.result).toBe('a,c,x,y');
    expect(r.trials).toBe(f.trials());
  });

  it('suite.reduce.a-binder-goes-with-its-dependents', async () => {
    // Dropping `a` skips `c` (it uses a), which the trial leaves out: both go in one accepted trial.
    const prog = [step('a'), step('c', 'a'), step('x'), step('y')];
    const r = await reduceSteps(prog, 'original', fails(['x', 'y']).test);
    expect(r.steps.map(nameOf)).toEqual(['x', 'y']);
  });

  it('suite.reduce.keeps-the-original-when-nothing-can-go', async () => {
    const prog = [step('x'), step('y')];
    const r = await reduceSteps(prog, 'original', fails(['x', 'y']).test);
    expect(r.steps).toBe(prog);
    expect(r.result).toBe('original');
  });

  it('suite.reduce.budget-is-trials-not-time', async () => {
    const prog = Array.from({ length: 30 }, (_, i) => step(`s${i}`)).concat([step('x'), step('y')]);
    const f = fails(['x', 'y']);
    const r = await reduceSteps(prog, 'original', f.test, { maxTrials: 5 });
    expect(r.trials).toBe(5);
    expect(f.trials()).toBe(5);
    // From the end: y and x cannot go (two trials), then s29, s28, s27 do.
    expect(r.steps.length).toBe(prog.length - 3);
  });
  it('suite.reduce.writes-out-an-iova-to-drop-its-placer', async () => {
    // `area` places something at 0x5000 and `map` names 0x2000 past it; the failure needs only
    // `map` at 0x7000. Dropping `area` skips `map` (its reference has no value), so the reducer
    // drops it again with the reference written out as the IOVA the failing run bound.
    const area: StepTemplate = { op: 'ioctl', fields: { iova: 0x5000n }, bind: { area: 'out.iova' } };
    const map: StepTemplate = { op: 'ioctl', fields: { iova: new Ref('area', '', 0x2000n) }, bind: { map: 'out.iova' } };
    const test = async (steps: readonly StepTemplate[]): Promise<Trial<string>> => {
      const bound = new Map<string, bigint>();
      const executed: StepTemplate[] = [];
      for (const t of steps) {
        const at = t.fields['iova'];
        const iova = at instanceof Ref ? (bound.has(at.name) ? (bound.get(at.name) as bigint) + at.add : undefined) : (at as bigint);
        if (iova === undefined) continue;
        bound.set(Object.keys(t.bind ?? {})[0] as string, iova);
        executed.push(t);
        if (t.bind?.['map'] && iova === 0x7000n) return { result: 'fails', executed };
      }
      return { result: undefined, executed };
    };
    const r = await reduceSteps([area, map], 'original', test, { bindingsOf: () => new Map([['area', 0x5000n]]) });
    expect(r.steps).toEqual([{ ...map, fields: { iova: 0x7000n } }]);
  });

  it('suite.reduce.points-a-second-of-a-kind-at-the-first', async () => {
    // Two devices bound (`d1`, `d2`, the same command and bind path); the HWPT is made for `d2` and
    // the failure needs any HWPT. Dropping `d2` skips `hwpt`; pointed at `d1` instead, it still fails.
    const bind = (name: string): StepTemplate => ({ op: 'ioctl', fields: { cmd: 'VFIO_DEVICE_BIND_IOMMUFD' }, bind: { [name]: 'out.out_devid' } });
    const hwpt: StepTemplate = { op: 'ioctl', fields: { cmd: 'IOMMU_HWPT_ALLOC', dev_id: new Ref('d2') }, bind: { hwpt: 'out.out_hwpt_id' } };
    const test = async (steps: readonly StepTemplate[]): Promise<Trial<string>> => {
      const bound = new Set<string>();
      const executed: StepTemplate[] = [];
      for (const t of steps) {
        const dev = t.fields['dev_id'];
        if (dev instanceof Ref && !bound.has(dev.name)) continue;
        bound.add(Object.keys(t.bind ?? {})[0] as string);
        executed.push(t);
        if (t.bind?.['hwpt']) return { result: 'fails', executed };
      }
      return { result: undefined, executed };
    };
    const r = await reduceSteps([bind('d1'), bind('d2'), hwpt], 'original', test);
    expect(r.steps).toEqual([bind('d1'), { ...hwpt, fields: { ...hwpt.fields, dev_id: new Ref('d1') } }]);
  });
});
