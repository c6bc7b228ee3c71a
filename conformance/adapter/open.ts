/**
 * Naming an implementation under test: `openAdapter(spec)` where spec is
 *   - a registered name: `stub`, `ref` (the reference, impl/adapter/adapter.ts,
 *     loaded lazily), and whatever other parts register (the kernel lanes add
 *     `linux-6.12` / `linux-7.3` with registerImplementation);
 *   - `cmd:<command line>`: a process speaking JSON lines on stdio;
 *   - a path to a TS/JS module exporting `createAdapter(profile)`.
 * Every opened adapter carries `info` (contract, implementation, profile).
 */
import { existsSync } from 'node:fs';
import { resolve as resolvePath } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Adapter, AdapterFactory, AdapterInfo, Implementation, Profile } from '../../spec/contract/types.ts';
import { AdapterError } from './errors.ts';
import { inProcessAdapter } from './in-process.ts';
import { spawnStdioAdapter, type SpawnOptions } from './stdio-client.ts';
import { createStubImplementation } from '../adapters/stub.ts';

/** The profile used when none is asked for (the newest kernel the project targets). */
export const DEFAULT_PROFILE: Profile = '7.3';

export interface OpenOptions extends SpawnOptions {
  /** Check in-process traffic against the wire schema too (tests). */
  readonly validateInProcess?: boolean;
}

export type OpenedAdapter = Adapter & { readonly info: AdapterInfo };
export type Opener = (opts: OpenOptions) => Promise<OpenedAdapter>;

interface Registered {
  readonly open: Opener;
  readonly description: string;
}

const registry = new Map<string, Registered>();

/** Add (or replace) a named implementation, e.g. registerImplementation('linux-6.12', …). */
export function registerImplementation(name: string, open: Opener, description = ''): void {
  if (name.startsWith('cmd:') || name.includes('/')) throw new Error(`implementation name '${name}' would be read as a command or a path`);
  registry.set(name, { open, description });
}

export function registeredImplementations(): readonly { readonly name: string; readonly description: string }[] {
  return [...registry.entries()].map(([name, r]) => ({ name, description: r.description }));
}

function isImplementation(x: Adapter | Implementation): x is Implementation {
  return typeof (x as Implementation).handle === 'function';
}

/** Turn what a factory returned into an opened adapter with info. */
async function adopt(made: Adapter | Implementation, opts: OpenOptions, what: string): Promise<OpenedAdapter> {
  if (isImplementation(made)) return inProcessAdapter(made, { validate: opts.validateInProcess ?? false });
  if (typeof made.call !== 'function' || typeof made.batch !== 'function' || typeof made.close !== 'function') {
    throw new AdapterError('not-found', `${what} returned neither an Adapter (call/batch/close) nor an Implementation (handle)`);
  }
  if (made.info) return Object.assign(made, { info: made.info });
  // No handshake info: take it from the capability report.
  const caps = await made.call({ op: 'capabilities' });
  if (!caps.ok) throw new AdapterError('handshake', `${what}: capabilities failed: ${caps.error.message}`);
  const c = caps.result;
  return Object.assign(made, { info: { contract: c.contract, implementation: c.implementation, profile: c.profile } });
}

/**
 * Modules already imported, by URL. An ES module is loaded once anyway, but each
 * `import()` still asks the loader (with the TypeScript hooks, a round trip to
 * their thread): a suite that opens a module adapter per case spent a tenth of
 * its time waiting on that.
 */
const imported = new Map<string, Promise<Record<string, unknown>>>();

function importOnce(url: string): Promise<Record<string, unknown>> {
  let mod = imported.get(url);
  if (!mod) {
    mod = import(url) as Promise<Record<string, unknown>>;
    // A failed import is not kept: the next open reports its own error.
    mod.catch(() => imported.delete(url));
    imported.set(url, mod);
  }
  return mod;
}

/** Load `exportName` from a module and call it with the profile. */
async function openModule(url: string, exportName: string, opts: OpenOptions, what: string): Promise<OpenedAdapter> {
  const mod = await importOnce(url);
  const factory = mod[exportName];
  if (typeof factory !== 'function') throw new AdapterError('not-found', `${what} does not export a function ${exportName}(profile)`);
  const profile = opts.profile ?? DEFAULT_PROFILE;
  const made = await (factory as AdapterFactory)(profile);
  const opened = await adopt(made, opts, what);
  if (opened.info.profile !== profile) {
    await opened.close();
    throw new AdapterError('handshake', `${what} was asked for profile ${profile} but serves ${opened.info.profile}`);
  }
  return opened;
}

const REFERENCE_MODULE = new URL('../../impl/adapter/adapter.ts', import.meta.url);

registerImplementation(
  'stub',
  async (opts) => inProcessAdapter(createStubImplementation(opts.profile ?? DEFAULT_PROFILE), { validate: opts.validateInProcess ?? false }),
  'answers ENOTTY to every ioctl and reports everything unsupported (a transport fixture)',
);

registerImplementation(
  'ref',
  async (opts) => {
    if (!existsSync(REFERENCE_MODULE)) {
      throw new AdapterError('not-found', 'the reference implementation is not available: impl/adapter/adapter.ts (exporting createReferenceAdapter) does not exist yet');
    }
    return openModule(REFERENCE_MODULE.href, 'createReferenceAdapter', opts, 'impl/adapter/adapter.ts');
  },
  'the reference implementation (impl/adapter/adapter.ts)',
);

function looksLikePath(spec: string): boolean {
  return spec.includes('/') || /\.(ts|mts|js|mjs)$/.test(spec);
}

/** Open the implementation named by `spec` (see the module comment). */
export async function openAdapter(spec: string, opts: OpenOptions = {}): Promise<OpenedAdapter> {
  if (spec.startsWith('cmd:')) {
    const line = spec.slice('cmd:'.length).trim();
    if (line === '') throw new AdapterError('not-found', "empty command line after 'cmd:'");
    return spawnStdioAdapter(line, opts);
  }
  const registered = registry.get(spec);
  if (registered) return registered.open(opts);
  if (looksLikePath(spec)) {
    const file = resolvePath(opts.cwd ?? process.cwd(), spec);
    if (!existsSync(file)) throw new AdapterError('not-found', `adapter module ${spec} does not exist`);
    return openModule(pathToFileURL(file).href, 'createAdapter', opts, spec);
  }
  const known = [...registry.keys()].join(', ');
  throw new AdapterError('not-found', `unknown implementation '${spec}' (known: ${known}; or cmd:<command line>, or a path to a module exporting createAdapter)`);
}

/** Whether `spec` names something openAdapter can try (for early CLI checks). */
export function isAdapterSpec(spec: string): boolean {
  return spec.startsWith('cmd:') || registry.has(spec) || looksLikePath(spec);
}
