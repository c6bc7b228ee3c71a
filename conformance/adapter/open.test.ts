import { describe, expect } from 'vitest';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { check } from '../../spec/clauses/check.ts';
import { AdapterError } from './errors.ts';
import { inProcessAdapter } from './in-process.ts';
import { isAdapterSpec, openAdapter, registerImplementation, registeredImplementations } from './open.ts';
import { createStubImplementation } from '../adapters/stub.ts';
import { ERRNO } from '../../spec/uapi/errno.ts';

const MODULE = fileURLToPath(new URL('./fixtures/module-adapter.ts', import.meta.url));
const REFERENCE = fileURLToPath(new URL('../../impl/adapter/adapter.ts', import.meta.url));

async function failure(p: Promise<unknown>): Promise<AdapterError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof AdapterError) return err;
    throw err;
  }
  throw new Error('expected an AdapterError');
}

describe('naming and opening implementations', () => {
  check('adapter.open.registry', async () => {
    const stub = await openAdapter('stub', { profile: '6.12' });
    expect(stub.info).toStrictEqual({ contract: 1, implementation: { name: 'stub', version: '1.0.0' }, profile: '6.12' });
    expect(await stub.call({ op: 'ioctl', fd: 3, cmd: 'IOMMU_DESTROY', arg: { kind: 'null' } })).toStrictEqual({ ok: true, result: { ret: -1, errno: ERRNO.ENOTTY } });
    await stub.close();

    const unknown = await failure(openAdapter('linux-9.9'));
    expect(unknown.kind).toBe('not-found');
    expect(unknown.message).toMatch(/unknown implementation 'linux-9\.9' \(known: stub, ref/);
    expect(isAdapterSpec('linux-9.9')).toBe(false);

    // New names plug in (the kernel lanes register linux-6.12 / linux-7.3 this way).
    registerImplementation('test-lane', async (opts) => inProcessAdapter(createStubImplementation(opts.profile ?? '7.3')), 'test');
    expect(registeredImplementations().map((r) => r.name)).toContain('test-lane');
    const lane = await openAdapter('test-lane', { profile: '6.12' });
    expect(lane.info.profile).toBe('6.12');
    await lane.close();
    expect(() => registerImplementation('cmd:x', async () => lane)).toThrow();

    // 'ref' resolves lazily: a clear error until impl/adapter/adapter.ts exists.
    if (existsSync(REFERENCE)) {
      const ref = await openAdapter('ref', { profile: '6.12' });
      expect(ref.info.profile).toBe('6.12');
      await ref.close();
    } else {
      const missing = await failure(openAdapter('ref'));
      expect(missing.kind).toBe('not-found');
      expect(missing.message).toContain('impl/adapter/adapter.ts');
    }
  });

  check('adapter.open.module-path', async () => {
    const a = await openAdapter(MODULE, { profile: '6.12', validateInProcess: true });
    expect(a.info).toStrictEqual({ contract: 1, implementation: { name: 'module-fixture', version: '0' }, profile: '6.12' });
    expect(await a.call({ op: 'close', fd: 3 })).toStrictEqual({ ok: true, result: { ret: 0, errno: 0 } });
    // A handler that throws is reported as an internal protocol error, not a crash.
    expect(await a.call({ op: 'kvm_create' })).toMatchObject({ ok: false, error: { code: 'internal', message: expect.stringContaining('boom') } });
    // validateInProcess holds the implementation to the wire schema.
    const bad = await failure(a.call({ op: 'mem_alloc', length: 4096 }));
    expect(bad.kind).toBe('bad-message');
    expect(bad.field).toBe('result.va');
    // Bytes are checked by shape (shapeToWire): what is not a Uint8Array is named.
    const notBytes = await failure(a.call({ op: 'mem_read', buffer: 1, offset: 0, length: 3 }));
    expect(notBytes.kind).toBe('bad-message');
    expect(notBytes.field).toBe('result.data.b64');
    await a.close();
    expect((await failure(a.call({ op: 'close', fd: 3 }))).kind).toBe('closed');
    expect((await failure(openAdapter('./no/such/module.ts'))).kind).toBe('not-found');
  });

  check('adapter.in-process.batch', async () => {
    const a = inProcessAdapter(createStubImplementation('7.3'), { validate: true });
    const rs = await a.call({
      op: 'batch',
      requests: [
        { op: 'ioctl', fd: 3, cmd: 'IOMMU_IOAS_ALLOC', arg: { kind: 'struct', fields: { size: 12 } } },
        { op: 'batch', requests: [] },
        { op: 'open', node: 'iommu' },
      ],
    });
    expect(rs).toMatchObject({
      ok: true,
      result: {
        responses: [
          { ok: true, result: { ret: -1, errno: ERRNO.ENOTTY } },
          { ok: false, error: { code: 'bad-request', field: 'requests.1.op' } },
          { ok: false, error: { code: 'unsupported' } },
        ],
      },
    });
    expect((await a.batch([{ op: 'capabilities' }]))[0]).toMatchObject({ ok: true, result: { profile: '7.3' } });
    await a.close();
  });

  check('adapter.in-process.serialized', async () => {
    // An async handler with varying delays still sees requests one at a time, in call order.
    const seen: string[] = [];
    let active = 0;
    const a = inProcessAdapter({
      name: 'slow',
      version: '0',
      profile: '6.12',
      async handle(request) {
        active++;
        expect(active).toBe(1);
        const fd = request.op === 'close' ? request.fd : -1;
        await new Promise((r) => setTimeout(r, (7 - fd) * 3));
        seen.push(`close ${fd}`);
        active--;
        return { ok: true, result: { ret: 0, errno: 0 } };
      },
    });
    await Promise.all([3, 4, 5, 6].map((fd) => a.call({ op: 'close', fd })));
    expect(seen).toStrictEqual(['close 3', 'close 4', 'close 5', 'close 6']);
    // callNow joins the same line: behind calls in flight, and later calls wait for its async answer.
    seen.length = 0;
    const first = a.call({ op: 'close', fd: 3 });
    const now = a.callNow!({ op: 'close', fd: 4 });
    expect(now).toBeInstanceOf(Promise);
    const after = a.callNow!({ op: 'close', fd: 5 });
    await Promise.all([first, now, after]);
    expect(seen).toStrictEqual(['close 3', 'close 4', 'close 5']);
  });

  check('adapter.in-process.call-now', async () => {
    // A synchronous handler answers callNow at once; a throw is the same internal error call gives.
    let n = 0;
    const a = inProcessAdapter({
      name: 'sync',
      version: '0',
      profile: '6.12',
      handle(request) {
        n++;
        if (request.op === 'close' && request.fd === 13) throw new Error('unlucky');
        return { ok: true, result: { ret: 0, errno: 0 } };
      },
    });
    const r = a.callNow!({ op: 'close', fd: 3 });
    expect(r).not.toBeInstanceOf(Promise);
    expect(r).toStrictEqual({ ok: true, result: { ret: 0, errno: 0 } });
    expect(n).toBe(1);
    expect(a.callNow!({ op: 'close', fd: 13 })).toMatchObject({ ok: false, error: { code: 'internal' } });
    expect(await a.call({ op: 'close', fd: 13 })).toMatchObject({ ok: false, error: { code: 'internal' } });
    const b = a.callNow!({ op: 'batch', requests: [{ op: 'close', fd: 3 }, { op: 'batch', requests: [] }] });
    expect(b).toMatchObject({ ok: true, result: { responses: [{ ok: true }, { ok: false, error: { code: 'bad-request', field: 'requests.1.op' } }] } });
    await a.close();
    expect(() => a.callNow!({ op: 'close', fd: 3 })).toThrow(/closed/);
  });
});
