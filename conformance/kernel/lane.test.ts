/**
 * The lane adapter's host side without a VM: a fake guest answers like the
 * C adapter (raw bytes + pointer patches) over JSON lines, through the shared
 * stdio client, so lowering, raising, batches, schema validation and
 * error-field numbering are checked in `npm test`.
 */
import { describe, expect, it } from 'vitest';
import { PassThrough } from 'node:stream';
import type { Json, JsonObject } from '../../spec/contract/wire.ts';
import type { Adapter } from '../../spec/contract/types.ts';
import { AdapterError } from '../adapter/errors.ts';
import { connectStdio } from '../adapter/stdio-client.ts';
import { bootAgainIfHung, laneAdapter, waitBanner } from './lane.ts';
import { LaneError } from './qemu.ts';
import { ERRNO } from '../../spec/uapi/errno.ts';
import { VFIO_DEVICE_DETACH_IOMMUFD_PT } from '../../spec/uapi/constants.ts';

const info = { contract: 1, implementation: { name: 'linux', version: 'fake' }, profile: '6.12' } as const;

function b64(bytes: Uint8Array): JsonObject {
  return { b64: Buffer.from(bytes).toString('base64') };
}
function unb64(v: Json | undefined): Uint8Array {
  return new Uint8Array(Buffer.from(String((v as JsonObject)['b64']), 'base64'));
}

/** Serves ioctl like the C adapter: sets out_ioas_id=7 (IOAS_ALLOC) and fills pointer targets with 0xab. */
function fakeIoctl(req: JsonObject): JsonObject {
  const arg = req['arg'] as JsonObject;
  if (req['op'] !== 'ioctl') return { ok: false, error: { code: 'bad-handle', message: 'no buffer', field: 'buffer' } };
  if (arg['kind'] !== 'raw') return { ok: true, result: { ret: -1, errno: ERRNO.EFAULT } };
  const bytes = unb64(arg['bytes']);
  if (req['cmd'] === 'IOMMU_IOAS_ALLOC') new DataView(bytes.buffer).setUint32(8, 7, true);
  const ptrs = ((arg['ptrs'] ?? []) as JsonObject[]).map((p) => {
    const len = p['room'] !== undefined ? Number(p['room']) : unb64(p['data']).length;
    return { data: b64(new Uint8Array(len).fill(0xab)) };
  });
  return { ok: true, result: { ret: 0, errno: 0, bytes: b64(bytes), ...(ptrs.length > 0 && { ptrs }) } };
}

function serve(m: JsonObject, sent: JsonObject[]): JsonObject {
  if (m['op'] === 'hello') return { ok: true, result: info };
  if (m['op'] === 'bye') return { ok: true, result: {} };
  sent.push(m);
  if (m['op'] === 'batch') {
    // Like the C adapter: an item's error field is prefixed requests.<i>.
    const responses = (m['requests'] as JsonObject[]).map((item, i) => {
      const r = fakeIoctl(item);
      const e = r['error'] as JsonObject | undefined;
      return e ? { ...r, error: { ...e, field: `requests.${i}.${String(e['field'])}` } } : r;
    });
    return { ok: true, result: { responses } };
  }
  return fakeIoctl(m);
}

/** A fake guest adapter on JSON lines, driven through the shared client (connectStdio). */
function fakeGuest(sent: JsonObject[], answer: (m: JsonObject) => JsonObject = (m) => serve(m, sent)): Promise<Adapter> {
  const toGuest = new PassThrough();
  const fromGuest = new PassThrough();
  let buffer = '';
  toGuest.setEncoding('utf8');
  toGuest.on('data', (chunk: string) => {
    buffer += chunk;
    let nl: number;
    while ((nl = buffer.indexOf('\n')) >= 0) {
      const { id, ...m } = JSON.parse(buffer.slice(0, nl)) as JsonObject;
      buffer = buffer.slice(nl + 1);
      fromGuest.write(`${JSON.stringify({ id: id ?? null, ...answer(m) })}\n`);
    }
  });
  // A hang guard only: the fake guest answers at once, whatever the machine's speed.
  return connectStdio(fromGuest, toGuest, { profile: '6.12', timeoutMs: 5 * 60_000, handshakeTimeoutMs: 5 * 60_000 });
}

const vm = { exited: Promise.resolve(0), consoleTail: () => '', dispose: () => undefined };

describe('kernel lane adapter (host side, fake channel)', () => {
  it('lowers a struct argument, then decodes out and pointer buffers by field path', async () => {
    const sent: JsonObject[] = [];
    const a = laneAdapter('6.12', info, await fakeGuest(sent), vm);
    const r = await a.call({ op: 'ioctl', fd: 3, cmd: 'IOMMU_IOAS_IOVA_RANGES', arg: { kind: 'struct', fields: { ioas_id: 1, num_iovas: 2, allowed_iovas: { room: 32 } } } });
    const arg = sent[0]?.['arg'] as JsonObject;
    expect(arg['kind']).toBe('raw');
    expect(arg['ptrs']).toEqual([{ offset: 16, room: 32 }]);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.result.out?.['ioas_id']).toBe(1);
    expect(r.result.buffers?.['allowed_iovas']).toEqual(new Uint8Array(32).fill(0xab));
    // A read-only struct stays read-only once lowered (the guest mprotects the raw bytes).
    await a.call({ op: 'ioctl', fd: 3, cmd: 'IOMMU_IOAS_ALLOC', arg: { kind: 'struct', fields: {}, readOnly: true } });
    expect(sent[1]?.['arg']).toMatchObject({ kind: 'raw', readOnly: true });
  });

  it('answers batches in order, refusing bad items locally and numbering error fields by the caller index', async () => {
    const sent: JsonObject[] = [];
    const a = laneAdapter('6.12', info, await fakeGuest(sent), vm);
    const rs = await a.batch([
      { op: 'ioctl', fd: 3, cmd: 'IOMMU_IOAS_ALLOC', arg: { kind: 'struct', fields: { nope: 1 } } },
      { op: 'ioctl', fd: 3, cmd: 'IOMMU_IOAS_ALLOC', arg: { kind: 'struct', fields: {} } },
      { op: 'mem_read', buffer: 9, offset: 0, length: 1 },
    ]);
    expect((sent[0]?.['requests'] as unknown[]).length).toBe(2);
    expect(rs[0]).toMatchObject({ ok: false, error: { code: 'bad-request', field: 'requests.0.arg.fields.nope' } });
    expect(rs[1]).toMatchObject({ ok: true, result: { ret: 0, out: { out_ioas_id: 7 } } });
    // The fake adapter numbers the item it got as requests.1; the caller's index is 2.
    expect(rs[2]).toMatchObject({ ok: false, error: { code: 'bad-handle', field: 'requests.2.buffer' } });
  });

  it('passes raw, int, null and fault arguments through unchanged', async () => {
    const sent: JsonObject[] = [];
    const a = laneAdapter('6.12', info, await fakeGuest(sent), vm);
    await a.call({ op: 'ioctl', fd: 3, cmd: 'IOMMU_DESTROY', arg: { kind: 'null' } });
    await a.call({ op: 'ioctl', fd: 3, cmd: VFIO_DEVICE_DETACH_IOMMUFD_PT, arg: { kind: 'int', value: 1n } });
    expect(sent.map((m) => (m['arg'] as JsonObject)['kind'])).toEqual(['null', 'int']);
    expect((sent[1]?.['arg'] as JsonObject)['value']).toBe('1');
  });
});

describe('kernel lane transport (host side)', () => {
  it('reports a schema-invalid answer from the guest through the shared client, naming the field', async () => {
    const a = laneAdapter('6.12', info, await fakeGuest([], (m) => (m['op'] === 'ioctl' ? { ok: true, result: { ret: 0 } } : serve(m, []))), vm);
    const err = await a.call({ op: 'ioctl', fd: 3, cmd: 'IOMMU_IOAS_ALLOC', arg: { kind: 'struct', fields: {} } }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AdapterError);
    expect(err).toMatchObject({ kind: 'bad-message', field: 'result.errno' });
  });

  it('skips console noise up to the ready banner and leaves what follows it unread', async () => {
    const s = new PassThrough();
    s.write('garbage\n{"event":"ready","profile":"6.12"}\n{"id":1');
    await waitBanner(s, 5 * 60_000); // a hang guard: the banner is already in the stream
    s.write(',"ok":true}\n');
    s.resume();
    const rest = await new Promise<string>((resolve) => s.once('data', (c: string) => resolve(c)));
    expect(rest.startsWith('{"id":1')).toBe(true);
  });

  it('a banner that never comes is a hang; a channel closed before it is not', async () => {
    const silent = new PassThrough();
    const hang = await waitBanner(silent, 10).catch((e: unknown) => e);
    expect(hang).toMatchObject({ step: 'boot', hung: true });
    const closed = new PassThrough();
    const pending = waitBanner(closed, 5 * 60_000).catch((e: unknown) => e);
    closed.end('noise\n');
    closed.resume();
    expect(await pending).toMatchObject({ step: 'boot', hung: false });
  });

  it('boots again after a hang (saying so), but not after a failure, and gives up after the last attempt', async () => {
    const hung = new LaneError('boot', 'no ready banner', true);
    const failed = new LaneError('boot', 'QEMU exited (status 1)');
    const said: string[] = [];
    const script = (outcomes: (LaneError | 'up')[]) => (attempt: number) => {
      const o = outcomes[attempt - 1];
      return o === 'up' ? Promise.resolve(attempt) : Promise.reject(o ?? new Error('no more attempts scripted'));
    };
    const note = (attempt: number, e: LaneError): void => void said.push(`${attempt}: ${e.detail}`);
    expect(await bootAgainIfHung(script([hung, 'up']), note)).toBe(2);
    expect(said).toEqual(['1: no ready banner']);
    await expect(bootAgainIfHung(script([failed, 'up']), note)).rejects.toBe(failed);
    await expect(bootAgainIfHung(script([hung, hung, 'up']), note, 2)).rejects.toBe(hung);
    expect(said).toHaveLength(2);
  });
});

describe('kernel splat detection', () => {
  it('finds WARN and BUG reports with their context, and nothing in a clean log', async () => {
    const { kernelSplats } = await import('./qemu.ts');
    const log = ['[    0.5] iommufd: ready', '[    1.0] WARNING: CPU: 1 PID: 70 at drivers/iommu/iommufd/pages.c:1234 iopt_x+0x1/0x2', '[    1.0] Call Trace:', '[    2.0] BUG: kernel NULL pointer dereference'].join('\n');
    const found = kernelSplats(log, 1);
    expect(found).toHaveLength(2);
    expect(found[0]).toContain('pages.c:1234');
    expect(found[0]).toContain('Call Trace');
    expect(kernelSplats('[    0.5] iommufd: ready\nreboot: Power down')).toEqual([]);
  });
});
