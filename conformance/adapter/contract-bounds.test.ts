/**
 * Where the contract and the code must agree, checked in both directions
 * (client requests, server answers): request ids stay within 0 … 2^53−1
 * (ADAPTER.md §7.2), mem_alloc lengths are whole pages (§3.5), struct members
 * are numbers up to 32 bits and u64s at 8 bytes (§3.3, §7.4), and `reset`
 * (§3.11) brings a session back to the fresh state of §1.
 */
import { describe, expect } from 'vitest';
import { PassThrough } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { check } from '../../spec/clauses/check.ts';
import { checkSchema } from '../../spec/contract/validate.ts';
import { normalizeStructKinds } from '../../spec/contract/struct-kinds.ts';
import type { Adapter, IoctlArg, Request, Response } from '../../spec/contract/types.ts';
import { AdapterError } from './errors.ts';
import { openAdapter } from './open.ts';
import { spawnStdioAdapter } from './stdio-client.ts';
import { serveStdio } from './stdio-server.ts';

const BIN = fileURLToPath(new URL('../../bin/iommufd-spec.mjs', import.meta.url));
const FIXTURE = fileURLToPath(new URL('./fixtures/misbehaving-adapter.mjs', import.meta.url));
const MAX_ID = Number.MAX_SAFE_INTEGER; // 2^53 − 1

/** Drive serveStdio over in-memory streams with raw lines; collect the answers. */
async function rawSession(impl: string, lines: readonly string[]): Promise<Record<string, unknown>[]> {
  const input = new PassThrough();
  const output = new PassThrough();
  let text = '';
  output.setEncoding('utf8');
  output.on('data', (s: string) => (text += s));
  const done = serveStdio(async (profile) => openAdapter(impl, { profile: profile ?? '7.3' }), { input, output, log: () => {} });
  for (const l of lines) input.write(`${l}\n`);
  input.end();
  await done;
  return text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

const HELLO = '{"id":0,"op":"hello","contract":[1],"profile":"7.3"}';

async function failure(p: Promise<unknown>): Promise<AdapterError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof AdapterError) return err;
    throw err;
  }
  throw new Error('expected an AdapterError');
}

function errorOf(r: Response): { code: string; field?: string } {
  if (r.ok) throw new Error(`expected a protocol error, got ${JSON.stringify(r.result, (_k, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v))}`);
  return r.error;
}

const MAP = (fields: Record<string, unknown>): Request => ({ op: 'ioctl', fd: 3, cmd: 'IOMMU_IOAS_MAP', arg: { kind: 'struct', fields } as IoctlArg });

describe('contract bounds, both directions', () => {
  check('adapter.wire.id-range', async () => {
    expect(checkSchema('clientMessage', { id: MAX_ID, op: 'capabilities' })).toBeUndefined();
    expect(checkSchema('clientMessage', { id: MAX_ID + 1, op: 'capabilities' })?.field).toBe('id');
    expect(checkSchema('serverMessage', { id: MAX_ID + 1, ok: true, result: {} })?.field).toBe('id');
    // A server cannot answer a request whose id it cannot read exactly: id null, naming the field.
    const answers = await rawSession('stub', [HELLO, '{"id":9007199254740993,"op":"capabilities"}', `{"id":${MAX_ID},"op":"capabilities"}`]);
    expect(answers[1]).toMatchObject({ id: null, ok: false, error: { code: 'bad-request', field: 'id' } });
    expect(answers[2]).toMatchObject({ id: MAX_ID, ok: true });
    // A client treats such an answer as a broken server.
    const a = await spawnStdioAdapter([process.execPath, FIXTURE, 'huge-id'], { timeoutMs: 300_000, handshakeTimeoutMs: 300_000 });
    const e = await failure(a.call({ op: 'close', fd: 3 }));
    expect(e.kind).toBe('bad-message');
    expect(e.field).toBe('id');
    await a.close();
  }, 600_000);

  check('adapter.mem-alloc.page-multiple', async () => {
    expect(checkSchema('clientMessage', { id: 1, op: 'mem_alloc', length: 4097 })?.field).toBe('length');
    expect(checkSchema('clientMessage', { id: 1, op: 'mem_alloc', length: 8192 })).toBeUndefined();
    expect(checkSchema('result_mem_alloc', { buffer: 1, va: '4096', length: 100 })?.field).toBe('length');
    // The reference refuses it even in-process, without the schema in between.
    const ref = await openAdapter('ref', { profile: '7.3' });
    expect(errorOf(await ref.call({ op: 'mem_alloc', length: 4097 }))).toMatchObject({ code: 'bad-request', field: 'length' });
    expect((await ref.call({ op: 'mem_alloc', length: 8192 })).ok).toBe(true);
    await ref.close();
    const answers = await rawSession('ref', [HELLO, '{"id":1,"op":"mem_alloc","length":100}']);
    expect(answers[1]).toMatchObject({ id: 1, ok: false, error: { code: 'bad-request', field: 'length' } });
  }, 600_000);

  check('adapter.struct-kinds.both-directions', async () => {
    // Client → server: the reference refuses a 32-bit member given as a u64 and a u64 member given as a number.
    const ref = await openAdapter('ref', { profile: '7.3' });
    const open = await ref.call({ op: 'open', node: 'iommu' });
    expect(open.ok).toBe(true);
    expect(errorOf(await ref.call(MAP({ ioas_id: 1, flags: 7n, user_va: 0n, length: 4096n, iova: 0n })))).toMatchObject({ code: 'bad-request', field: 'arg.fields.flags' });
    expect(errorOf(await ref.call(MAP({ ioas_id: 1, flags: 7, user_va: 0n, length: 4096, iova: 0n })))).toMatchObject({ code: 'bad-request', field: 'arg.fields.length' });
    const fine = await ref.call(MAP({ ioas_id: 1, flags: 7, user_va: 0n, length: 4096n, iova: 0n }));
    expect(fine.ok && fine.result).toMatchObject({ ret: -1 }); // no IOAS 1: an ioctl result, not a protocol error
    await ref.close();
    // … and so does `serve`, on the wire, before the implementation sees it.
    const answers = await rawSession('stub', [
      HELLO,
      '{"id":1,"op":"ioctl","fd":3,"cmd":"IOMMU_IOAS_MAP","arg":{"kind":"struct","fields":{"flags":"7"}}}',
      '{"id":2,"op":"batch","requests":[{"op":"ioctl","fd":3,"cmd":"IOMMU_IOAS_MAP","arg":{"kind":"struct","fields":{"iova":4096}}}]}',
    ]);
    expect(answers[1]).toMatchObject({ id: 1, ok: false, error: { code: 'bad-request', field: 'arg.fields.flags' } });
    expect(answers[2]).toMatchObject({ id: 2, ok: true, result: { responses: [{ ok: false, error: { code: 'bad-request', field: 'requests.0.arg.fields.iova' } }] } });
    // The runner sends every member in its kind, whatever the program wrote.
    const norm = normalizeStructKinds('7.3', 'IOMMU_IOAS_MAP', { kind: 'struct', fields: { flags: 7n, length: 4096, user_va: { data: new Uint8Array(1) } } });
    expect(norm.kind === 'struct' && norm.fields).toStrictEqual({ flags: 7, length: 4096n, user_va: { data: new Uint8Array(1) } });

    // Server → client: an answer with a member of the wrong kind is a bad message.
    for (const [mode, field] of [['u64-as-number', 'result.out.user_va'], ['u32-as-string', 'result.out.flags']] as const) {
      const a = await spawnStdioAdapter([process.execPath, FIXTURE, mode], { timeoutMs: 300_000, handshakeTimeoutMs: 300_000 });
      const e = await failure(a.call(MAP({ ioas_id: 1, flags: 7 })));
      expect(e.kind, mode).toBe('bad-message');
      expect(e.field, mode).toBe(field);
      await a.close();
    }
  }, 600_000);
});

/** A session that leaves something of every kind behind. */
async function dirty(a: Adapter): Promise<void> {
  const ok = async (r: Request): Promise<unknown> => {
    const res = await a.call(r);
    if (!res.ok) throw new Error(`${r.op}: ${res.error.message}`);
    return res.result;
  };
  await ok({ op: 'set_process', capIpcLock: false, rlimitMemlock: 1n << 20n, capSysResource: false });
  const { fd } = (await ok({ op: 'open', node: 'iommu' })) as { fd: number };
  const buf = (await ok({ op: 'mem_alloc', length: 16384 })) as { buffer: number; va: bigint };
  const ioas = (await ok({ op: 'ioctl', fd, cmd: 'IOMMU_IOAS_ALLOC', arg: { kind: 'struct', fields: {} } })) as { out: { out_ioas_id: number } };
  await ok({ op: 'ioctl', fd, cmd: 'IOMMU_TEST_CMD', arg: { kind: 'struct', fields: { op: 2, id: ioas.out.out_ioas_id, mock_domain: {} } } });
  await ok({ op: 'ioctl', fd, cmd: 'IOMMU_IOAS_MAP', arg: { kind: 'struct', fields: { ioas_id: ioas.out.out_ioas_id, flags: 6, user_va: buf.va, length: 16384n } } });
  const dev = (await ok({ op: 'device_create', spec: { iommu: 'vtd0' } })) as { device: number };
  await ok({ op: 'open_device', device: dev.device });
  await ok({ op: 'kvm_create' });
  await ok({ op: 'fail_nth', nth: 1 });
}

/** What a fresh session shows. */
async function fresh(a: Adapter): Promise<unknown[]> {
  return Promise.all([
    a.call({ op: 'process_info' }),
    a.call({ op: 'open', node: 'iommu' }),
    a.call({ op: 'mem_alloc', length: 4096 }),
    a.call({ op: 'device_create', spec: { iommu: 'vtd0' } }),
    a.call({ op: 'kvm_create' }),
    // fail_nth is off: the first ioctl on the new context succeeds.
    a.call({ op: 'ioctl', fd: 3, cmd: 'IOMMU_IOAS_ALLOC', arg: { kind: 'struct', fields: {} } }),
    // CAP_SYS_RESOURCE is held again: the accounting mode can be changed.
    a.call({ op: 'ioctl', fd: 3, cmd: 'IOMMU_OPTION', arg: { kind: 'struct', fields: { option_id: 0, op: 0, val64: 1n } } }),
  ]).then((rs) => rs.map((r) => (r.ok ? { ...r.result, va: undefined } : r)));
}

describe('reset', () => {
  check('adapter.reset.fresh-state', async () => {
    for (const spec of ['ref', `cmd:${process.execPath} ${BIN} serve --impl ref`]) {
      const a = await openAdapter(spec, { profile: '7.3', validateInProcess: true, handshakeTimeoutMs: 300_000, timeoutMs: 300_000 });
      const caps = await a.call({ op: 'capabilities' });
      expect(caps.ok && caps.result.ops.reset, spec).toStrictEqual({ supported: true });
      const first = await fresh(a);
      expect(first[0], spec).toStrictEqual({ lockedVmPages: 0, pinnedVmPages: 0, va: undefined });
      const r = await a.call({ op: 'reset' });
      expect(r, spec).toStrictEqual({ ok: true, result: {} });
      await dirty(a);
      expect(await a.call({ op: 'reset' }), spec).toStrictEqual({ ok: true, result: {} });
      // The same answers as a new session: fd 3, buffer 1, device 1, VM 1, nothing pinned, defaults back.
      expect(await fresh(a), spec).toStrictEqual(first);
      await a.close();
    }
  }, 600_000);
});
