/**
 * How fast the lifecycle oracle checks steps: the recorded kernel answers of
 * the corpus (model/testdata/), decoded once, replayed through fresh oracles
 * — every program, every round — measuring the process's CPU time (user +
 * system) of the replay alone, after warm-up rounds, so that other processes
 * on a shared machine weigh less than wall-clock time would.
 */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Capabilities, Profile, Response, SingleRequest } from '../spec/contract/types.ts';
import { requestFromWire, responseFromWire, type Json } from '../spec/contract/wire.ts';
import { createLifecycleOracle } from './oracle.ts';
import { readReplay } from './replay.ts';

const DATA = join(fileURLToPath(new URL('.', import.meta.url)), 'testdata');

interface Program {
  readonly profile: Profile;
  readonly caps: Capabilities;
  readonly steps: (readonly [SingleRequest, Response])[];
}

function load(profile: Profile): Program[] {
  const out: Program[] = [];
  for (const l of readReplay(join(DATA, `corpus-linux-${profile}.jsonl.gz`))) {
    if (!('step' in l)) {
      const caps = { iommus: l.iommus.map((i) => ({ name: i.name, dirtyTracking: i.dirty, enforceCacheCoherency: i.coherent })) } as unknown as Capabilities;
      out.push({ profile: l.profile, caps, steps: [] });
      continue;
    }
    const q = requestFromWire(l.request as Json) as SingleRequest;
    out[out.length - 1]?.steps.push([q, responseFromWire(q, l.response as Json)]);
  }
  return out;
}

export interface MachinesBenchRow {
  readonly id: string;
  readonly value: number;
  readonly unit: string;
}

export function runMachinesBench(opts: { rounds?: number; warmup?: number } = {}): MachinesBenchRow[] {
  const programs = [...load('6.12'), ...load('7.3')];
  const round = (): number => {
    let n = 0;
    for (const p of programs) {
      const o = createLifecycleOracle(p.profile, { capabilities: p.caps });
      for (const [q, r] of p.steps) {
        o.check(q, r);
        n++;
      }
    }
    return n;
  };
  for (let i = 0; i < (opts.warmup ?? 5); i++) round();
  const rates: number[] = [];
  let steps = 0;
  for (let i = 0; i < (opts.rounds ?? 10); i++) {
    const c0 = process.cpuUsage();
    steps = round();
    const c = process.cpuUsage(c0);
    rates.push(steps / ((c.user + c.system) / 1e6));
  }
  rates.sort((a, b) => a - b);
  const median = rates[Math.floor(rates.length / 2)] as number;
  return [
    { id: 'oracle_steps_per_s', value: Math.round(median), unit: 'steps/s' },
    { id: 'oracle_us_per_step', value: Math.round((1e6 / median) * 100) / 100, unit: 'µs' },
    { id: 'corpus_steps_per_round', value: steps, unit: 'steps' },
  ];
}
