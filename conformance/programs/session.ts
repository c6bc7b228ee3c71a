/**
 * Running programs on a named implementation (what the exec, diff and
 * coverage commands share): open the adapter through the registry
 * (conformance/adapter/open.ts), read its capabilities, run each program in
 * the order asked for, each from the contract's fresh state.
 *
 * Isolation (ADAPTER.md §1, §3.11): in-process implementations are cheap to
 * open, so each program gets a new one. Kernel lanes and stdio processes are
 * shared: between two programs the runner sends `reset`, and where the
 * adapter does not serve it (or cannot restore everything) it closes the
 * adapter and opens a new one. Either way no process setting, fd, buffer,
 * device or VM of one program reaches the next.
 */
import { openAdapter, type OpenedAdapter, type OpenOptions } from '../adapter/open.ts';
import type { Capabilities, Profile } from '../../spec/contract/types.ts';
import type { LoadedProgram } from './types.ts';
import { runProgram, type ProgramRun, type RunOptions } from './run.ts';

/** In what order a session runs its programs. */
export type ProgramOrder = { readonly kind: 'file' } | { readonly kind: 'reverse' } | { readonly kind: 'shuffle'; readonly seed: number };

export class OrderError extends Error {}

/** `file`, `reverse`, `shuffle` (a fresh seed) or `shuffle:<seed>` (a decimal u32). */
export function parseOrder(text: string, freshSeed: () => number = () => Math.floor(Math.random() * 0x1_0000_0000)): ProgramOrder {
  if (text === 'file' || text === 'reverse') return { kind: text };
  const m = /^shuffle(?::(\d{1,10}))?$/.exec(text);
  if (!m) throw new OrderError(`--order ${text}: expected file, reverse, shuffle or shuffle:<seed>`);
  const seed = m[1] === undefined ? freshSeed() : Number(m[1]);
  if (seed > 0xffffffff) throw new OrderError(`--order ${text}: the seed must be below 2^32`);
  return { kind: 'shuffle', seed };
}

/** How an order is printed (and parsed back): `shuffle:<seed>` names its seed. */
export function orderLabel(o: ProgramOrder): string {
  return o.kind === 'shuffle' ? `shuffle:${o.seed}` : o.kind;
}

/** mulberry32: a small, well-known 32-bit PRNG; enough to permute a corpus reproducibly. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 0x1_0000_0000;
  };
}

/** The items in the given order (Fisher–Yates for a shuffle). */
export function orderItems<T>(items: readonly T[], order: ProgramOrder): T[] {
  const out = [...items];
  if (order.kind === 'reverse') return out.reverse();
  if (order.kind === 'file') return out;
  const next = mulberry32(order.seed);
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1));
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}

/** Implementations that are expensive to open (a process, a VM) and shared by the programs of a session. */
export function sharedAdapter(impl: string): boolean {
  return impl.startsWith('cmd:') || impl.startsWith('linux-');
}

export class AdapterOpenError extends Error {}

/** The profile an implementation name fixes (linux-6.12 → 6.12), if any. */
export function impliedProfile(impl: string): Profile | undefined {
  const m = /^linux-(6\.12|7\.3)$/.exec(impl);
  return m ? (m[1] as Profile) : undefined;
}

/** Transport settings for opening the adapter (a stdio adapter's timeouts). */
export type AdapterOpenSettings = Pick<OpenOptions, 'timeoutMs' | 'handshakeTimeoutMs'>;

async function open(impl: string, profile: Profile | undefined, settings: AdapterOpenSettings = {}): Promise<{ adapter: OpenedAdapter; caps: Capabilities }> {
  let adapter: OpenedAdapter;
  try {
    adapter = await openAdapter(impl, { ...settings, profile, stderr: 'inherit' });
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

export interface SessionOptions extends RunOptions {
  /** Program order (default: file order). */
  readonly order?: ProgramOrder;
  /** Share one adapter across the programs (default: for cmd: and linux-* adapters only). */
  readonly shared?: boolean;
  /** How a shared adapter is brought back to the fresh state between programs:
   * `reset` (default; reopen where reset is not served) or `none` (nothing: only
   * to show what leaks without it). */
  readonly isolation?: 'reset' | 'none';
  /** Timeouts of a stdio adapter (tests on a loaded machine give start-up more room). */
  readonly adapter?: AdapterOpenSettings;
}

export interface SessionResult {
  readonly implementation: string;
  readonly profile: Profile;
  /** The order the programs ran in (`shuffle:<seed>` names its seed). */
  readonly order: string;
  /** Runs in the order they ran. */
  readonly runs: readonly ProgramRun[];
  /** How each program started fresh: a new adapter each (in-process), or one shared adapter reset
   * (or reopened where it could not be reset) between programs, or — only to show a leak — not at all. */
  readonly isolation: { readonly mode: 'new-adapter' | 'reset' | 'none'; readonly resets: number; readonly reopens: number; readonly reopenReasons: readonly string[] };
}

/** Why a shared adapter cannot be brought back to the fresh state by `reset`, if it cannot
 * (then the caller opens a new one). Undefined: it is fresh again. */
export async function resetAdapter(adapter: OpenedAdapter, caps: Capabilities): Promise<string | undefined> {
  const support = caps.ops.reset;
  if (support?.supported !== true) return `reset: ${support ? support.reason : 'not listed in the capability report'}`;
  const r = await adapter.call({ op: 'reset' });
  return r.ok ? undefined : `reset refused (${r.error.code}): ${r.error.message}`;
}

/** Runs every program on `impl` (for `profile`, or the implementation's own). */
export async function runPrograms(impl: string, profile: Profile | undefined, programs: readonly LoadedProgram[], options: SessionOptions = {}): Promise<SessionResult> {
  const order = options.order ?? { kind: 'file' };
  const ordered = orderItems(programs, order);
  const runs: ProgramRun[] = [];
  let resets = 0;
  const reopenReasons: string[] = [];
  if (options.shared ?? sharedAdapter(impl)) {
    let { adapter, caps } = await open(impl, profile, options.adapter);
    try {
      for (const [i, p] of ordered.entries()) {
        if (i > 0 && options.isolation !== 'none') {
          const why = await resetAdapter(adapter, caps);
          if (why === undefined) {
            resets++;
          } else {
            reopenReasons.push(why);
            await adapter.close();
            ({ adapter, caps } = await open(impl, profile, options.adapter));
          }
        }
        runs.push(await runProgram(p, adapter, caps, options));
      }
    } finally {
      await adapter.close();
    }
    const mode = options.isolation === 'none' ? 'none' : 'reset';
    return { implementation: impl, profile: caps.profile, order: orderLabel(order), runs, isolation: { mode, resets, reopens: reopenReasons.length, reopenReasons: [...new Set(reopenReasons)] } };
  }
  let actual: Profile | undefined = profile;
  for (const p of ordered) {
    const { adapter, caps } = await open(impl, profile, options.adapter);
    actual = caps.profile;
    try {
      runs.push(await runProgram(p, adapter, caps, options));
    } finally {
      await adapter.close();
    }
  }
  if (actual === undefined) {
    const { adapter, caps } = await open(impl, profile, options.adapter);
    actual = caps.profile;
    await adapter.close();
  }
  return { implementation: impl, profile: actual, order: orderLabel(order), runs, isolation: { mode: 'new-adapter', resets: 0, reopens: 0, reopenReasons: [] } };
}

/** JSON.stringify replacer: bigint as decimal string, bytes as hex. */
export function jsonReplacer(_key: string, value: unknown): unknown {
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof Uint8Array) return { hex: Buffer.from(value).toString('hex') };
  return value;
}
