/**
 * The differential oracle where the reference stops short: a nested data type
 * it reports unsupported (ADAPTER.md §4 features) is refused by it with
 * EOPNOTSUPP after the core's checks, which is no prediction of what the
 * kernel's driver answers (the 6.12 lane: EINVAL for 8 bytes of selftest
 * data, longer than its struct). The core's own answers are still judged.
 */
import { describe, expect, it } from 'vitest';
import type { Step } from '../../programs/types.ts';
import { validateProgram } from '../../programs/load.ts';
import { replayProgram } from '../replay.ts';

const FIX = 'conformance/suite/fixtures';

function nestedOver(parentFlags: string | number, hex: string) {
  const steps: Step[] = [
    { op: 'open', node: 'iommu', bind: { fd: 'fd' } },
    { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_IOAS_ALLOC', fields: {}, bind: { ioas: 'out.out_ioas_id' } },
    { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_TEST_CMD', fields: { op: 'IOMMU_TEST_OP_MOCK_DOMAIN', id: '$ioas', mock_domain: {} }, bind: { idev: 'out.mock_domain.out_idev_id' } },
    { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_HWPT_ALLOC', fields: { dev_id: '$idev', pt_id: '$ioas', flags: parentFlags }, bind: { parent: 'out.out_hwpt_id' }, expect: { ok: true } },
    { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_HWPT_ALLOC', fields: { dev_id: '$idev', pt_id: '$parent', data_type: 'IOMMU_HWPT_DATA_SELFTEST', data_len: hex.length / 2, data_uptr: { data: { hex } } } },
  ];
  const p = { format: 'iommufd-program/1', name: 'nested-over-own-parent', description: 'a mock nested HWPT', source: { kernels: ['6.12'] }, profiles: ['6.12'], requires: { commands: ['IOMMU_TEST_CMD', 'IOMMU_HWPT_ALLOC'], testOps: ['IOMMU_TEST_OP_MOCK_DOMAIN'] }, steps };
  return validateProgram(JSON.parse(JSON.stringify(p)), p.name);
}

describe('the differential oracle and a data type the reference does not model', () => {
  it("takes the driver's answer past the core's checks as no prediction", async () => {
    // The 6.12 lane's counterexample: 8 zero bytes over the device's own nesting parent.
    const r = await replayProgram(nestedOver('IOMMU_HWPT_ALLOC_NEST_PARENT', '0000000000000000'), { impl: `${FIX}/nested-selftest-driver.ts`, profile: '6.12', oracle: 'full' });
    expect(r.objections, r.text).toEqual([]);
  });

  it("still judges the core's answers before the driver", async () => {
    // A parent allocated without IOMMU_HWPT_ALLOC_NEST_PARENT: the core refuses it (EINVAL).
    const program = nestedOver(0, '00000000');
    const faithful = await replayProgram(program, { impl: `${FIX}/nested-selftest-driver.ts`, profile: '6.12', oracle: 'full' });
    expect(faithful.objections, faithful.text).toEqual([]);
    const broken = await replayProgram(program, { impl: `${FIX}/nested-parent-eopnotsupp.ts`, profile: '6.12', oracle: 'full' });
    expect(broken.objections.map((o) => `${o.property} ${o.signature?.expected} ${o.signature?.observed}`), broken.text).toContain('differential EINVAL EOPNOTSUPP');
  });
});
