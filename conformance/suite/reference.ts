/**
 * The reference implementation as the differential oracle's own instance:
 * loaded straight from impl/adapter/adapter.ts (never through the
 * implementation registry, so nothing registered under another name — a
 * mutant, a module adapter — can stand in for it), one fresh instance per case.
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
  call(request: Request): Promise<Response>;
  close(): Promise<void>;
  readonly implementation: Implementation;
}

export async function openReference(profile: Profile): Promise<ReferenceInstance> {
  const impl = (await referenceFactory())(profile);
  return {
    implementation: impl,
    async call(request) {
      if (request.op === 'batch') {
        const responses: Response[] = [];
        for (const r of request.requests) responses.push(r.op === 'batch' ? { ok: false, error: { code: 'bad-request', message: 'nested batch' } } : await impl.handle(r));
        return { ok: true, result: { responses } };
      }
      try {
        return await impl.handle(request);
      } catch (err) {
        return { ok: false, error: { code: 'internal', message: `reference threw: ${err instanceof Error ? err.message : String(err)}` } };
      }
    },
    async close() {
      await impl.close?.();
    },
  };
}

/** The module the oracle's reference comes from (tests check that nothing replaced it). */
export const REFERENCE_MODULE_URL = REFERENCE_MODULE.href;
