import { describe, expect } from 'vitest';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { check } from '../../spec/clauses/check.ts';
import { openAdapter } from './open.ts';
import { checkTranscript, type TranscriptLine } from '../../spec/contract/transcript.ts';
import type { IoctlArg, Request } from '../../spec/contract/types.ts';
import { ERRNO } from '../../spec/uapi/errno.ts';
import { IOMMU_DESTROY } from '../../spec/uapi/constants.ts';

const SCRIPT = fileURLToPath(new URL('../adapters/examples/python/fake_adapter.py', import.meta.url));

function python(): string {
  try {
    execFileSync('python3', ['--version'], { stdio: 'ignore' });
  } catch {
    throw new Error('python3 is needed to run the Python example adapter (conformance/adapters/examples/python/)');
  }
  return 'python3';
}

const struct = (fields: Record<string, number | bigint>, extra: Partial<{ tail: Uint8Array; truncate: number }> = {}): IoctlArg => ({ kind: 'struct', fields, ...extra });
const ioasAlloc = (fd: number, fields: Record<string, number> = {}, extra = {}): Request => ({ op: 'ioctl', fd, cmd: 'IOMMU_IOAS_ALLOC', arg: struct({ size: 12, flags: 0, out_ioas_id: 0, ...fields }, extra) });
const destroy = (fd: number, id: number): Request => ({ op: 'ioctl', fd, cmd: 'IOMMU_DESTROY', arg: struct({ size: 8, id }) });

describe('the Python example adapter', () => {
  check(
    'adapter.python-example.driven',
    async () => {
      const transcript: TranscriptLine[] = [];
      // Hang guards, not speed bounds: starting python on a loaded machine may take seconds.
      const guard = 5 * 60_000;
      const a = await openAdapter(`cmd:${python()} ${SCRIPT}`, { profile: '6.12', timeoutMs: guard, handshakeTimeoutMs: guard, onLine: (direction, line) => transcript.push({ direction, line }) });
      try {
        expect(a.info).toStrictEqual({ contract: 1, implementation: { name: 'python-example', version: '1.0.0' }, profile: '6.12' });
        const caps = await a.call({ op: 'capabilities' });
        if (!caps.ok) throw new Error(caps.error.message);
        expect(caps.result.commands['IOMMU_IOAS_ALLOC']).toStrictEqual({ supported: true });
        expect(caps.result.ops.mem_alloc).toMatchObject({ supported: false });

        const opened = await a.call({ op: 'open', node: 'iommu' });
        if (!opened.ok) throw new Error(opened.error.message);
        const fd = opened.result.fd;
        const outId = async (r: Request): Promise<unknown> => {
          const res = await a.call(r);
          return res.ok && 'out' in res.result ? res.result.out?.['out_ioas_id'] : res;
        };
        expect([await outId(ioasAlloc(fd)), await outId(ioasAlloc(fd)), await outId(ioasAlloc(fd))]).toStrictEqual([1, 2, 3]);
        expect(await a.call(destroy(fd, 2))).toMatchObject({ ok: true, result: { ret: 0, errno: 0 } });
        expect(await outId(ioasAlloc(fd))).toBe(2); // lowest free id is reused
        expect(await a.call(destroy(fd, 99))).toMatchObject({ ok: true, result: { ret: -1, errno: ERRNO.ENOENT } }); // ENOENT
        expect(await a.call(ioasAlloc(fd, { flags: 1 }))).toMatchObject({ ok: true, result: { ret: -1, errno: ERRNO.EOPNOTSUPP } }); // EOPNOTSUPP
        expect(await a.call(ioasAlloc(fd, { size: 4 }))).toMatchObject({ ok: true, result: { ret: -1, errno: ERRNO.EINVAL } }); // EINVAL
        expect(await a.call(ioasAlloc(fd, {}, { tail: new Uint8Array([0, 1]) }))).toMatchObject({ ok: true, result: { ret: -1, errno: ERRNO.E2BIG } }); // E2BIG
        expect(await a.call({ op: 'ioctl', fd, cmd: 'IOMMU_IOAS_MAP', arg: struct({}) })).toMatchObject({ ok: true, result: { ret: -1, errno: ERRNO.ENOTTY } });
        expect(await a.call({ op: 'ioctl', fd, cmd: IOMMU_DESTROY, arg: { kind: 'null' } })).toMatchObject({ ok: true, result: { ret: -1, errno: ERRNO.EFAULT } });
        expect(await a.call({ op: 'mem_alloc', length: 4096 })).toMatchObject({ ok: false, error: { code: 'unsupported', field: 'op' } });

        const batch = await a.batch([ioasAlloc(fd), destroy(fd, 1), ioasAlloc(fd), { op: 'iotlb', iommu: 'mock' }]);
        expect(batch.map((r) => (r.ok ? ('out' in r.result ? r.result.out?.['out_ioas_id'] ?? r.result.errno : '?') : r.error.code))).toStrictEqual([4, 0, 1, 'unsupported']);

        // A second context has its own ids.
        const other = await a.call({ op: 'open', node: 'iommu' });
        if (!other.ok) throw new Error(other.error.message);
        expect(other.result.fd).toBe(fd + 1);
        expect(await outId(ioasAlloc(other.result.fd))).toBe(1);
        expect(await a.call({ op: 'close', fd })).toStrictEqual({ ok: true, result: { ret: 0, errno: 0 } });
        expect(await a.call({ op: 'close', fd })).toStrictEqual({ ok: true, result: { ret: -1, errno: ERRNO.EBADF } });
      } finally {
        await a.close();
      }
      expect(transcript.length).toBeGreaterThan(30);
      expect(JSON.parse(transcript.at(-2)?.line ?? '{}')).toMatchObject({ op: 'bye' });
      // Every message in both directions is schema-valid.
      expect(checkTranscript(transcript)).toStrictEqual([]);
    },
  );

});
