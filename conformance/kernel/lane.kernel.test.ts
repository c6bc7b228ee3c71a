/**
 * End to end through the kernel lanes: boots each profile's guest (building or
 * reusing the cached kernel) and runs the smoke scenario of smoke.ts.
 * Runs only with IOMMUFD_SPEC_KERNEL=1 so `npm test` needs no VM:
 *   IOMMUFD_SPEC_KERNEL=1 npx vitest run conformance/kernel/lane.kernel.test.ts
 * IOMMUFD_SPEC_KERNEL_PROFILES=6.12 (comma list) picks the profiles.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { isProfile } from '../../spec/uapi/profiles.ts';
import { openKernelAdapter } from './lane.ts';
import { buildGuest } from './qemu.ts';
import { runSmokeScenario } from './smoke.ts';
import { buildIoctlArg, resolveCommand } from '../../spec/abi/arg.ts';
import type { Adapter, IoctlResult, Profile, Request } from '../../spec/contract/types.ts';

async function ok<T>(a: Adapter, r: Request): Promise<T> {
  const res = await a.call(r);
  if (!res.ok) throw new Error(`${r.op}: ${res.error.message}`);
  return res.result as T;
}

/** ADAPTER.md §3.3 pointer patches sent as they are (the lane passes raw arguments through): nested, and a bad offset named. */
async function rawPointerPatches(adapter: Adapter, profile: Profile): Promise<void> {
  const { fd } = await ok<{ fd: number }>(adapter, { op: 'open', node: 'iommu' });
  const alloc = await ok<IoctlResult>(adapter, { op: 'ioctl', fd, cmd: 'IOMMU_IOAS_ALLOC', arg: { kind: 'struct', fields: {} } });
  const fields = { ioas_id: Number(alloc.out?.['out_ioas_id']), num_iovas: 1 };
  const typed = await ok<IoctlResult>(adapter, { op: 'ioctl', fd, cmd: 'IOMMU_IOAS_IOVA_RANGES', arg: { kind: 'struct', fields: { ...fields, allowed_iovas: { room: 16 } } } });
  const command = resolveCommand(profile, 'IOMMU_IOAS_IOVA_RANGES');
  const built = command && buildIoctlArg(profile, command, { kind: 'struct', fields }, () => 0n);
  if (built?.kind !== 'bytes') throw new Error('IOMMU_IOAS_IOVA_RANGES bytes');
  // The range array, with a nested patch in its first 8 bytes (overwritten by the kernel).
  const ptrs = [{ offset: 16, room: 16, ptrs: [{ offset: 0, data: new Uint8Array([1, 2, 3]) }] }];
  const raw = await ok<IoctlResult>(adapter, { op: 'ioctl', fd, cmd: 'IOMMU_IOAS_IOVA_RANGES', arg: { kind: 'raw', bytes: built.bytes, ptrs } });
  expect(raw.ret).toBe(0);
  expect(raw.ptrs?.[0]?.data).toEqual(typed.buffers?.['allowed_iovas']);
  expect(raw.ptrs?.[0]?.ptrs?.[0]?.data).toEqual(new Uint8Array([1, 2, 3]));
  const bad = await adapter.call({ op: 'ioctl', fd, cmd: 'IOMMU_IOAS_IOVA_RANGES', arg: { kind: 'raw', bytes: built.bytes, ptrs: [{ offset: 28, room: 16 }] } });
  expect(bad.ok ? undefined : bad.error).toMatchObject({ code: 'bad-request', field: 'arg.ptrs.0.offset' });
  await ok(adapter, { op: 'close', fd });
}

const enabled = process.env['IOMMUFD_SPEC_KERNEL'] === '1';
const profiles = (process.env['IOMMUFD_SPEC_KERNEL_PROFILES'] ?? '6.12,7.3').split(',').filter(isProfile);

describe.skipIf(!enabled)('kernel lanes end to end', () => {
  // The build (minutes cold, depending on load) is not timed: it runs first,
  // unbounded (a failing build fails by itself); the tests reuse it and keep
  // only vitest's hang guard.
  beforeAll(async () => {
    for (const profile of profiles) await buildGuest(profile, (line) => process.stderr.write(`${line}\n`));
  }, 0);
  for (const profile of profiles) {
    it(
      `linux-${profile}: IOAS_ALLOC, MOCK_DOMAIN, IOAS_MAP, MD_CHECK_MAP, IOAS_UNMAP, DESTROY; raw pointer patches`,
      async () => {
        const adapter = await openKernelAdapter(profile);
        try {
          expect(adapter.info.profile).toBe(profile);
          expect(adapter.info.implementation.version.startsWith(profile === '6.12' ? '6.12.' : '7.3.')).toBe(true);
          const steps = await runSmokeScenario(adapter);
          expect(steps.filter((s) => !s.ok)).toEqual([]);
          expect(steps.at(-1)?.step).toBe('close returned 0');
          const caps = await adapter.call({ op: 'capabilities' });
          expect(caps.ok && caps.result.ops.dma?.supported).toBe(false);
          expect(caps.ok && caps.result.rawPointerPatches).toEqual({ supported: true });
          await rawPointerPatches(adapter, profile);
        } finally {
          await adapter.close();
        }
      },
    );
  }
});
