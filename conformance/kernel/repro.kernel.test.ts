/**
 * The suite's replay files of each lane as standalone C programs
 * (conformance/suite/repro-c.ts), compiled against the lane's kernel headers
 * and run in its guest: each must diverge at the step the suite objected to,
 * and the control programs (a passing corpus program; a read-only argument's
 * copy-back fault, repro/controls/) must run clean.
 * `kernel test` does the same; this runs it as a vitest:
 *   IOMMUFD_SPEC_KERNEL=1 npx vitest run conformance/kernel/repro.kernel.test.ts
 */
import { describe, expect, it } from 'vitest';
import { isProfile } from '../../spec/uapi/profiles.ts';
import { checkReplaysInGuest } from './repro.ts';

const enabled = process.env['IOMMUFD_SPEC_KERNEL'] === '1';
const profiles = (process.env['IOMMUFD_SPEC_KERNEL_PROFILES'] ?? '6.12,7.3').split(',').filter(isProfile);

describe.skipIf(!enabled)('C reproducers in the kernel lanes', () => {
  for (const profile of profiles) {
    it(
      `linux-${profile}: replay files diverge as recorded, the control runs clean`,
      async () => {
        const r = await checkReplaysInGuest(profile);
        expect(r.splats).toEqual([]);
        expect(r.checks.filter((c) => !c.mustDiverge).length).toBe(2);
        for (const c of r.checks) expect({ name: c.name, ok: c.ok, why: c.why, output: c.ok ? '' : c.output }).toMatchObject({ ok: true });
      },
      15 * 60_000,
    );
  }
});
