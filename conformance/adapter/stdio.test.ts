import { describe, expect } from 'vitest';
import { PassThrough } from 'node:stream';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { check } from '../../spec/clauses/check.ts';
import { commandsFor, testOpsFor } from '../../spec/uapi/index.ts';
import { AdapterError } from './errors.ts';
import { openAdapter } from './open.ts';
import { connectStdio, spawnStdioAdapter, splitCommandLine } from './stdio-client.ts';
import { serveStdio } from './stdio-server.ts';
import { ENVIRONMENT_OPS } from '../../spec/contract/ops.ts';
import { checkSchema } from '../../spec/contract/validate.ts';
import { requestToWire, type Json } from '../../spec/contract/wire.ts';
import fc from 'fast-check';
import { requestArb } from '../../spec/contract/arbitraries.ts';
import { checkTranscript, type TranscriptLine } from '../../spec/contract/transcript.ts';
import { propertyRuns } from '../../spec/testing/property-budget.ts';
import { ERRNO } from '../../spec/uapi/errno.ts';
import { IOMMU_IOAS_ALLOC } from '../../spec/uapi/constants.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BIN = fileURLToPath(new URL('../../bin/iommufd-spec.mjs', import.meta.url));
const FIXTURE = fileURLToPath(new URL('./fixtures/misbehaving-adapter.mjs', import.meta.url));

async function failure(p: Promise<unknown>): Promise<AdapterError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof AdapterError) return err;
    throw err;
  }
  throw new Error('expected the promise to reject with an AdapterError');
}

/**
 * No bound here depends on the machine's speed: starting node can take seconds
 * on a loaded machine, so the handshake (which covers the start) gets a hang
 * guard, and only a test about timeouts gives a request a short one.
 */
const HANG_GUARD_MS = 5 * 60_000;

function misbehaving(mode: string, opts: { timeoutMs?: number; handshakeTimeoutMs?: number } = {}) {
  return spawnStdioAdapter([process.execPath, FIXTURE, mode], { timeoutMs: HANG_GUARD_MS, handshakeTimeoutMs: HANG_GUARD_MS, ...opts });
}

const IOCTL = { op: 'ioctl', fd: 3, cmd: 'IOMMU_DESTROY', arg: { kind: 'struct', fields: { id: 1 } } } as const;

/** Drive serveStdio over in-memory streams with raw lines; collect the answers. */
async function rawSession(lines: readonly string[]): Promise<Json[]> {
  const input = new PassThrough();
  const output = new PassThrough();
  let text = '';
  output.setEncoding('utf8');
  output.on('data', (s: string) => (text += s));
  const done = serveStdio(async (profile) => openAdapter('stub', { profile: profile ?? '7.3' }), { input, output, log: () => {} });
  for (const l of lines) input.write(`${l}\n`);
  input.end();
  await done;
  return text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Json);
}

describe('adapter stdio transport', () => {
  check(
    'adapter.stdio.handshake',
    async () => {
      const sent: string[] = [];
      const a = await openAdapter(`cmd:${process.execPath} ${BIN} serve --impl stub`, {
        profile: '6.12',
        cwd: ROOT,
        timeoutMs: HANG_GUARD_MS,
        handshakeTimeoutMs: HANG_GUARD_MS,
        onLine: (dir, line) => sent.push(`${dir} ${line}`),
      });
      try {
        expect(a.info).toStrictEqual({ contract: 1, implementation: { name: 'stub', version: '1.0.0' }, profile: '6.12' });
        expect(sent[0]).toBe('send {"id":0,"op":"hello","contract":[1],"profile":"6.12"}');
        const caps = await a.call({ op: 'capabilities' });
        if (!caps.ok) throw new Error(caps.error.message);
        expect(Object.keys(caps.result.commands).sort()).toStrictEqual(commandsFor('6.12').map((c) => c.name).sort());
        expect(Object.keys(caps.result.testOps).sort()).toStrictEqual(testOpsFor('6.12').map((o) => o.name).sort());
        expect(Object.keys(caps.result.ops).sort()).toStrictEqual([...ENVIRONMENT_OPS].sort());
        for (const s of [...Object.values(caps.result.commands), ...Object.values(caps.result.testOps), ...Object.values(caps.result.ops), ...Object.values(caps.result.deviceFeatures)]) {
          expect(s).toStrictEqual({ supported: false, reason: 'stub implementation' });
        }
        expect(await a.call(IOCTL)).toStrictEqual({ ok: true, result: { ret: -1, errno: ERRNO.ENOTTY } });
        expect(await a.call({ op: 'open', node: 'iommu' })).toMatchObject({ ok: false, error: { code: 'unsupported', field: 'op' } });
        const batch = await a.batch([IOCTL, { op: 'mem_alloc', length: 4096 }, { ...IOCTL, cmd: IOMMU_IOAS_ALLOC }]);
        expect(batch.map((r) => r.ok)).toStrictEqual([true, false, true]);
      } finally {
        await a.close();
      }
      // Every message in both directions was schema-valid (the client checks incoming; check outgoing too).
      for (const l of sent.filter((s) => s.startsWith('send '))) expect(checkSchema('clientMessage', JSON.parse(l.slice(5)) as Json)).toBeUndefined();
      expect(sent.at(-1)).toMatch(/^recv \{"id":\d+,"ok":true,"result":\{\}\}$/); // the bye was answered
    },
  );

  check('adapter.stdio.server-protocol-errors', async () => {
    const answers = await rawSession([
      '{"id":7,"op":"capabilities"}',
      '{"id":0,"op":"hello","contract":[2,3],"profile":null}',
      '{"id":0,"op":"hello","contract":[1],"profile":"6.12"}',
      '{"id":1,"op":"frobnicate"}',
      '{"id":2,"op":"ioctl","fd":3,"cmd":"IOMMU_DESTROY","arg":{"kind":"struct","fields":{"id":"twelve"}}}',
      'this is not JSON',
      '{"op":"capabilities"}',
      '{"id":3,"op":"batch","requests":[{"op":"close"},{"op":"ioctl","fd":3,"cmd":1,"arg":{"kind":"null"}},{"id":9,"op":"poll","fd":3,"events":1}]}',
      '{"id":4,"op":"hello","contract":[1],"profile":null}',
      '{"id":5,"op":"bye"}',
      '{"id":6,"op":"capabilities"}',
    ]);
    for (const a of answers) expect(checkSchema('serverMessage', a)).toBeUndefined();
    expect(answers).toHaveLength(10); // nothing after the bye
    expect(answers[0]).toMatchObject({ id: 7, ok: false, error: { code: 'bad-request', field: 'op' } });
    expect(answers[1]).toMatchObject({ id: 0, ok: false, error: { code: 'unsupported', field: 'contract' } });
    expect(answers[2]).toStrictEqual({ id: 0, ok: true, result: { contract: 1, implementation: { name: 'stub', version: '1.0.0' }, profile: '6.12' } });
    expect(answers[3]).toMatchObject({ id: 1, ok: false, error: { code: 'bad-request', field: 'op' } });
    expect(answers[4]).toMatchObject({ id: 2, ok: false, error: { code: 'bad-request', field: 'arg.fields.id' } });
    expect(answers[5]).toMatchObject({ id: null, ok: false, error: { code: 'bad-request' } });
    expect(answers[6]).toMatchObject({ id: null, ok: false, error: { code: 'bad-request', field: 'id' } });
    expect(answers[7]).toMatchObject({
      id: 3,
      ok: true,
      result: {
        responses: [
          { ok: false, error: { code: 'bad-request', field: 'requests.0.fd' } },
          { ok: true, result: { ret: -1, errno: ERRNO.ENOTTY } },
          { ok: false, error: { code: 'bad-request', field: 'requests.2.id' } },
        ],
      },
    });
    expect(answers[8]).toMatchObject({ id: 4, ok: false, error: { code: 'bad-request', field: 'op' } });
    expect(answers[9]).toStrictEqual({ id: 5, ok: true, result: {} });
  });

  check('adapter.stdio.child-exits', async () => {
    const a = await misbehaving('exit');
    const err = await failure(a.call(IOCTL));
    expect(err.kind).toBe('exited');
    expect(err.message).toContain('exited with code 3');
    expect(err.message).toContain('segfault in ioctl handler');
    // The connection stays failed: later calls reject at once with the same error.
    expect(await failure(a.call({ op: 'capabilities' }))).toBe(err);
    await a.close();

    const early = await failure(misbehaving('exit-at-start'));
    expect(early.kind).toBe('exited');
    expect(early.message).toContain('exited with code 4');
    expect(early.message).toContain('no /dev/iommu');
  });

  check('adapter.stdio.timeout', async () => {
    // The adapter's start is not timed: the handshake waits as long as node
    // takes to start; only the request after it has a short bound.
    const a = await misbehaving('hang', { timeoutMs: 300 });
    const t0 = performance.now();
    const err = await failure(a.call(IOCTL));
    expect(err.kind).toBe('timeout');
    expect(err.message).toMatch(/did not answer request 1 \(ioctl\) within 300 ms/);
    // It waited the bound (a slow machine only waits longer; a hang would end the test).
    expect(performance.now() - t0).toBeGreaterThanOrEqual(290);
    expect((await failure(a.batch([IOCTL]))).kind).toBe('timeout');
    await a.close();
    // A hello that never comes times out however long the start takes.
    expect((await failure(misbehaving('hang-hello', { handshakeTimeoutMs: 300 }))).kind).toBe('timeout');
  });

  check('adapter.stdio.garbage-line', async () => {
    const a = await misbehaving('garbage');
    const err = await failure(a.call(IOCTL));
    expect(err.kind).toBe('bad-message');
    expect(err.message).toContain('not valid JSON');
    expect(err.message).toContain('Kernel panic');
    await a.close();
  });

  check('adapter.stdio.invalid-message-names-field', async () => {
    const a = await misbehaving('bad-result');
    const err = await failure(a.call(IOCTL));
    expect(err.kind).toBe('bad-message');
    expect(err.field).toBe('result.ret');
    await a.close();

    const b = await misbehaving('bad-batch-item');
    const berr = await failure(b.batch([IOCTL, { op: 'open', node: 'iommu' }]));
    expect(berr.field).toBe('result.responses.1.result.fd');
    await b.close();

    const c = await misbehaving('wrong-id');
    const cerr = await failure(c.call(IOCTL));
    expect(cerr.field).toBe('id');
    expect(cerr.message).toContain('answers no outstanding request');
    await c.close();
  });

  check('adapter.stdio.handshake-failures', async () => {
    const refused = await failure(misbehaving('refuse-hello'));
    expect(refused.kind).toBe('handshake');
    expect(refused.field).toBe('contract');
    const wrong = await failure(spawnStdioAdapter([process.execPath, FIXTURE, 'wrong-profile'], { profile: '6.12', handshakeTimeoutMs: HANG_GUARD_MS }));
    expect(wrong.kind).toBe('handshake');
    expect(wrong.field).toBe('result.profile');
    const missing = await failure(spawnStdioAdapter(['/nonexistent/adapter-binary']));
    expect(missing.kind).toBe('spawn');
    expect(missing.message).toContain('/nonexistent/adapter-binary');
  });

  check('adapter.stdio.pipelining', async () => {
    const a = await misbehaving('slow');
    // Several requests in flight at once are matched by id.
    const rs = await Promise.all([a.call(IOCTL), a.call(IOCTL), a.call(IOCTL)]);
    expect(rs).toStrictEqual([0, 1, 2].map(() => ({ ok: true, result: { ret: -1, errno: ERRNO.ENOTTY } })));
    await a.close();
  });

  check('adapter.schema.every-message-valid', async () => {
    // A session with requests of every op (and batches) against the stub over
    // the stdio server: every line in both directions is schema-valid.
    const requests = fc.sample(requestArb, propertyRuns(300));
    const lines = [JSON.stringify({ id: 0, op: 'hello', contract: [1], profile: '6.12' })];
    requests.forEach((r, i) => lines.push(JSON.stringify({ id: i + 1, ...requestToWire(r) })));
    lines.push(JSON.stringify({ id: requests.length + 1, op: 'bye' }));
    const answers = await rawSession(lines);
    expect(answers).toHaveLength(lines.length);
    const session: TranscriptLine[] = [...lines.map((line) => ({ direction: 'send' as const, line })), ...answers.map((a) => ({ direction: 'recv' as const, line: JSON.stringify(a) }))];
    expect(checkTranscript(session)).toStrictEqual([]);
    expect(new Set(requests.map((r) => r.op)).size).toBeGreaterThanOrEqual(28);

    // The transcript checker itself catches a bad message in either direction.
    const bad: TranscriptLine[] = [
      { direction: 'send', line: '{"id":1,"op":"ioctl","fd":3,"cmd":"IOMMU_DESTROY","arg":{"kind":"struct","fields":{"id":1}}}' },
      { direction: 'recv', line: '{"id":1,"ok":true,"result":{"ret":0}}' },
      { direction: 'send', line: '{"id":2,"op":"batch","requests":[{"op":"open","node":"iommu"}]}' },
      { direction: 'recv', line: '{"id":2,"ok":true,"result":{"responses":[{"ok":true,"result":{"fd":"3"}}]}}' },
      { direction: 'send', line: '{"id":3,"op":"open","node":"dev"}' },
      { direction: 'recv', line: 'garbage' },
    ];
    expect(checkTranscript(bad).map((v) => [v.index, v.field])).toStrictEqual([
      [1, 'result.errno'],
      [3, 'result.responses.0.result.fd'],
      [4, 'node'],
      [5, ''],
    ]);
  });

  check(
    'adapter.serve.cli-usage',
    () => {
      const run = (...args: string[]) => spawnSync(process.execPath, [BIN, 'serve', ...args], { cwd: ROOT, encoding: 'utf8', input: '' });
      const noImpl = run();
      expect(noImpl.status).toBe(2);
      expect(noImpl.stderr).toContain('--impl');
      const badImpl = run('--impl', 'linux-1.0');
      expect(badImpl.status).toBe(2);
      expect(badImpl.stderr).toMatch(/--impl: unknown implementation 'linux-1\.0'/);
      const badProfile = run('--impl', 'stub', '--profile', '6.1');
      expect(badProfile.status).toBe(2);
      expect(badProfile.stderr).toMatch(/--profile: unknown profile '6\.1'/);
      expect(badProfile.stdout).toBe(''); // stdout is the protocol channel: nothing else goes there
    },
  );

  check('adapter.stdio.connect-streams', async () => {
    // The client over plain streams (as over a VM's serial port), against the server over the same pipes.
    const toServer = new PassThrough();
    const toClient = new PassThrough();
    const served = serveStdio(async (profile) => openAdapter('stub', { profile: profile ?? '7.3' }), { input: toServer, output: toClient, log: () => {} });
    const conn = await connectStdio(toClient, toServer, { profile: '6.12', peer: 'in-memory server' });
    expect(conn.info.profile).toBe('6.12');
    expect(await conn.batch([IOCTL, IOCTL])).toStrictEqual([0, 1].map(() => ({ ok: true, result: { ret: -1, errno: ERRNO.ENOTTY } })));
    await conn.close();
    await served; // the server ends after the bye
    expect((await failure(conn.call(IOCTL))).kind).toBe('closed');
  });

  check('adapter.stdio.command-line-split', () => {
    expect(splitCommandLine(`python3 'my adapter.py' --x "a \\"b\\"" c\\ d`)).toStrictEqual(['python3', 'my adapter.py', '--x', 'a "b"', 'c d']);
    expect(() => splitCommandLine(`python3 'oops`)).toThrow(/unterminated/);
  });
});
