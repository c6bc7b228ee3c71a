/**
 * The reference implementation as the differential oracle's own instance:
 * loaded straight from impl/adapter/adapter.ts (never through the
 * implementation registry, so nothing registered under another name — a
 * mutant, a module adapter — can stand in for it), one fresh instance per case
 * (a new one, or a closed one `reset` to the fresh state).
 */
import type { Implementation, Profile, Request, Response } from '../../spec/contract/types.ts';

const REFERENCE_MODULE = new URL('../../impl/adapter/adapter.ts', import.meta.url);

type Factory = (profile: Profile) => Implementation;
let factory: Factory | undefined;

async function referenceFactory(): Promise<Factory> {
  if (!factory) {
    const mod = (await import(REFERENCE_MODULE.href)) as { createReferenceAdapter?: Factory };
    if (typeof mod.createReferenceAdapter !== 'function') throw new Error('impl/adapter/adapter.ts does not export createReferenceAdapter(profile)');
    factory = mod.createReferenceAdapter;
  }
  return factory;
}

/** A fresh reference instance, called directly (no transport: the oracle is in-process). */
export interface ReferenceInstance {
  /** The reference's answer: synchronous (the reference answers at once), typed as either for other instances. */
  call(request: Request): Response | Promise<Response>;
  close(): Promise<void>;
  readonly implementation: Implementation;
}

/**
 * Instances closed by earlier cases, per profile, ready for reuse: `reset`
 * (ADAPTER.md §3.11) returns one to the fresh state of a new instance for a
 * fraction of the cost of making one (its simulated memory is kept).
 */
const idle = new Map<Profile, Implementation[]>();
const IDLE_MAX = 4;

async function freshImplementation(profile: Profile): Promise<Implementation> {
  const pool = idle.get(profile);
  const reused = pool?.pop();
  if (reused) {
    const r = await reused.handle({ op: 'reset' });
    if (r.ok) return reused;
  }
  return (await referenceFactory())(profile);
}

export async function openReference(profile: Profile): Promise<ReferenceInstance> {
  const impl = await freshImplementation(profile);
  let closed = false;
  return {
    implementation: impl,
    call(request) {
      if (request.op === 'batch') return batchOf(impl, request.requests);
      const threw = (err: unknown): Response => ({ ok: false, error: { code: 'internal', message: `reference threw: ${err instanceof Error ? err.message : String(err)}` } });
      try {
        const r = impl.handle(request);
        return r instanceof Promise ? r.catch(threw) : r;
      } catch (err) {
        return threw(err);
      }
    },
    async close() {
      if (closed) return;
      closed = true;
      await impl.close?.();
      const pool = idle.get(profile) ?? [];
      idle.set(profile, pool);
      if (pool.length < IDLE_MAX) pool.push(impl);
    },
  };
}

/** The module the oracle's reference comes from (tests check that nothing replaced it). */
export const REFERENCE_MODULE_URL = REFERENCE_MODULE.href;

async function batchOf(impl: Implementation, requests: readonly Request[]): Promise<Response> {
  const responses: Response[] = [];
  for (const r of requests) responses.push(r.op === 'batch' ? { ok: false, error: { code: 'bad-request', message: 'nested batch' } } : await impl.handle(r));
  return { ok: true, result: { responses } };
}
