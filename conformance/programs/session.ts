/**
 * Running programs on a named implementation (what the exec, diff and
 * coverage commands share): open the adapter through the registry
 * (conformance/adapter/open.ts), read its capabilities, run each program.
 */
import { openAdapter, type OpenedAdapter } from '../adapter/open.ts';
import type { Capabilities, Profile } from '../../spec/contract/types.ts';
import type { LoadedProgram } from './types.ts';
import { runProgram, type ProgramRun, type RunOptions } from './run.ts';

/** In-process implementations are cheap to open: each program gets a fresh
 * one. Kernel lanes and stdio processes are shared, with fds cleaned up
 * between programs. */
function sharedAdapter(impl: string): boolean {
  return impl.startsWith('cmd:') || impl.startsWith('linux-');
}

export class AdapterOpenError extends Error {}

/** The profile an implementation name fixes (linux-6.12 → 6.12), if any. */
export function impliedProfile(impl: string): Profile | undefined {
  const m = /^linux-(6\.12|7\.3)$/.exec(impl);
  return m ? (m[1] as Profile) : undefined;
}

async function open(impl: string, profile: Profile | undefined): Promise<{ adapter: OpenedAdapter; caps: Capabilities }> {
  let adapter: OpenedAdapter;
  try {
    adapter = await openAdapter(impl, { profile, stderr: 'inherit' });
  } catch (err) {
    throw new AdapterOpenError(`--impl ${impl}: ${(err as Error).message}`);
  }
  const res = await adapter.call({ op: 'capabilities' });
  if (!res.ok) {
    await adapter.close();
    throw new AdapterOpenError(`--impl ${impl}: capabilities failed: ${res.error.message}`);
  }
  return { adapter, caps: res.result };
}

export interface SessionResult {
  readonly implementation: string;
  readonly profile: Profile;
  readonly runs: readonly ProgramRun[];
}

/** Runs every program on `impl` (for `profile`, or the implementation's own). */
export async function runPrograms(
  impl: string,
  profile: Profile | undefined,
  programs: readonly LoadedProgram[],
  options: RunOptions = {},
): Promise<SessionResult> {
  const runs: ProgramRun[] = [];
  if (sharedAdapter(impl)) {
    const { adapter, caps } = await open(impl, profile);
    try {
      for (const p of programs) runs.push(await runProgram(p, adapter, caps, options));
    } finally {
      await adapter.close();
    }
    return { implementation: impl, profile: caps.profile, runs };
  }
  let actual: Profile | undefined = profile;
  for (const p of programs) {
    const { adapter, caps } = await open(impl, profile);
    actual = caps.profile;
    try {
      runs.push(await runProgram(p, adapter, caps, options));
    } finally {
      await adapter.close();
    }
  }
  if (actual === undefined) {
    const { adapter, caps } = await open(impl, profile);
    actual = caps.profile;
    await adapter.close();
  }
  return { implementation: impl, profile: actual, runs };
}

/** JSON.stringify replacer: bigint as decimal string, bytes as hex. */
export function jsonReplacer(_key: string, value: unknown): unknown {
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof Uint8Array) return { hex: Buffer.from(value).toString('hex') };
  return value;
}
