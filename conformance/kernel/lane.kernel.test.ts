/**
 * End to end through the kernel lanes: boots each profile's guest (building or
 * reusing the cached kernel) and runs the smoke scenario of smoke.ts.
 * Runs only with IOMMUFD_SPEC_KERNEL=1 so `npm test` needs no VM:
 *   IOMMUFD_SPEC_KERNEL=1 npx vitest run conformance/kernel/lane.kernel.test.ts
 * IOMMUFD_SPEC_KERNEL_PROFILES=6.12 (comma list) picks the profiles.
 */
import { describe, expect, it } from 'vitest';
import { isProfile } from '../../spec/uapi/profiles.ts';
import { openKernelAdapter } from './lane.ts';
import { runSmokeScenario } from './smoke.ts';

const enabled = process.env['IOMMUFD_SPEC_KERNEL'] === '1';
const profiles = (process.env['IOMMUFD_SPEC_KERNEL_PROFILES'] ?? '6.12,7.3').split(',').filter(isProfile);

describe.skipIf(!enabled)('kernel lanes end to end', () => {
  for (const profile of profiles) {
    it(
      `linux-${profile}: IOAS_ALLOC, MOCK_DOMAIN, IOAS_MAP, MD_CHECK_MAP, IOAS_UNMAP, DESTROY`,
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
        } finally {
          await adapter.close();
        }
      },
      15 * 60_000,
    );
  }
});
