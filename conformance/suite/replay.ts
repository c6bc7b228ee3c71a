/**
 * Replaying a program (a replay file the suite saved, or any corpus program)
 * under the suite's oracles: its steps run in order on a fresh session of the
 * implementation, every oracle watching, then the end-of-case sweep. A replay
 * file reproduces its failure when the same property objects again.
 */
import type { Profile } from '../../spec/uapi/profiles.ts';
import { ProgramError, validateProgram } from '../programs/load.ts';
import type { Program } from '../programs/types.ts';
import { ResolveError } from '../programs/values.ts';
import { formatCounterexample } from './counterexample.ts';
import { DifferentialOracle } from './oracles/differential.ts';
import { InvariantsOracle } from './oracles/invariants.ts';
import { LifecycleOracle, loadLifecycle } from './oracles/lifecycle.ts';
import type { Objection, Oracle } from './oracles/oracle.ts';
import { openReference } from './reference.ts';
import { DEFAULTS, ImplProvider, type ImplSpec, type OracleSet } from './runner.ts';
import { AdapterFailure, CaseFailure, CaseSession, realClock, type TraceStep } from './session.ts';
import { compileProgramStep } from './step.ts';

export interface ReplayOptions {
  readonly impl: ImplSpec;
  readonly profile?: Profile;
  readonly oracle?: OracleSet;
  readonly timeoutMs?: number;
}

export interface ReplayResult {
  readonly implementation: string;
  readonly profile: Profile;
  readonly objections: readonly Objection[];
  readonly trace: readonly TraceStep[];
  readonly text: string;
  /** The property the replay file recorded, and whether it objected again. */
  readonly recorded?: string;
  readonly reproduced: boolean;
}

export class ReplayError extends Error {}

export async function replayProgram(program: Program, opts: ReplayOptions): Promise<ReplayResult> {
  const timeoutMs = opts.timeoutMs ?? DEFAULTS.timeoutMs;
  const provider = await ImplProvider.create(opts.impl, opts.profile ?? (program.profiles.length === 1 ? program.profiles[0] : undefined), timeoutMs);
  const profile = provider.profile;
  try {
    if (!program.profiles.includes(profile)) throw new ReplayError(`${program.name} applies to profiles ${program.profiles.join(', ')}, not ${profile}`);
    // A program built in code (not loaded from a file) gets the file's checks too.
    try {
      validateProgram(program, program.name);
    } catch (err) {
      if (err instanceof ProgramError) throw new ReplayError(err.message);
      throw err;
    }
    const templates = program.steps.map((s, i) => {
      try {
        return compileProgramStep(s, profile);
      } catch (err) {
        if (err instanceof ResolveError) throw new ReplayError(`${program.name}: step ${i + 1}: ${err.message}`);
        throw err;
      }
    });
    const oracle = opts.oracle ?? 'full';
    const oracles: Oracle[] = [];
    let differential: DifferentialOracle | undefined;
    if (oracle === 'full') {
      differential = new DifferentialOracle(profile, () => openReference(profile));
      oracles.push(differential);
    }
    oracles.push(new InvariantsOracle(profile));
    if (oracle === 'full') {
      const lc = await loadLifecycle();
      if ('factory' in lc) oracles.push(new LifecycleOracle(lc.factory, profile));
    }
    const adapter = await provider.acquire(timeoutMs);
    const session = new CaseSession({ impl: adapter, caps: provider.caps, profile, oracles, timeoutMs, clock: realClock, probeSeed: Number(program.replay?.['probeSeed'] ?? 0) });
    let objections: readonly Objection[] = [];
    let broken = false;
    try {
      for (const t of templates) await session.exec(t);
      await session.finish();
    } catch (err) {
      if (err instanceof CaseFailure) {
        objections = err.objections;
        broken = err.adapter !== undefined;
      } else if (err instanceof AdapterFailure) {
        broken = true;
        objections = [{ oracle: 'protocol', property: 'protocol', step: session.trace.length, message: err.message, observed: err.kind, signature: { command: 'replay', expected: 'an answer', observed: err.kind } }];
      } else throw err;
    } finally {
      await session.close();
      await provider.release(adapter, session.trace, broken);
    }
    const recorded = typeof program.replay?.['property'] === 'string' ? program.replay['property'] : undefined;
    return {
      implementation: provider.name,
      profile,
      objections,
      trace: session.trace,
      text: formatCounterexample(session.trace, objections, (s) => differential?.expectedOf(s)),
      ...(recorded && { recorded }),
      reproduced: recorded ? objections.some((o) => o.property === recorded) : objections.length > 0,
    };
  } finally {
    await provider.close();
  }
}
