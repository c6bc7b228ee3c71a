/**
 * The reference's capability report tells the truth about nesting (ADAPTER.md
 * §4 `features`): a nested HWPT of the mock's data type can be allocated
 * exactly when IOMMU_HWPT_DATA_SELFTEST is reported supported, and an IOMMU
 * instance says `nesting: true` only then. Today both are false, with the
 * roadmap draft that brings them; when that lands, this check makes the
 * report change with it.
 */
import { describe, expect } from 'vitest';
import { check } from '../../spec/clauses/check.ts';
import type { Adapter, IoctlResult, Request } from '../../spec/contract/types.ts';
import { featuresFor } from '../../spec/contract/features.ts';
import { enumValue } from '../../spec/uapi/lookup.ts';
import { openAdapter } from './open.ts';

async function result<T>(a: Adapter, r: Request): Promise<T> {
  const res = await a.call(r);
  if (!res.ok) throw new Error(`${r.op}: ${res.error.message}`);
  return res.result as T;
}

describe('the reference reports what it does', () => {
  for (const profile of ['6.12', '7.3'] as const) {
    check(`adapter.ref.capabilities-truthful-${profile}`, async () => {
      const a = await openAdapter('ref', { profile, validateInProcess: true });
      const caps = await result<{ features?: Record<string, { supported: boolean; reason?: string }>; iommus: { name: string; nesting: boolean }[] }>(a, { op: 'capabilities' });
      // Every feature of the profile is reported, each unsupported one with the roadmap draft that brings it.
      expect(Object.keys(caps.features ?? {}).sort()).toEqual(featuresFor(profile).map((f) => f.name).sort());
      for (const [name, s] of Object.entries(caps.features ?? {})) if (!s.supported) expect(s.reason, name).toMatch(/roadmap draft 9 \(9-nested-viommu-pasid-7\.3\.md/);

      const { fd } = await result<{ fd: number }>(a, { op: 'open', node: 'iommu' });
      const ioctl = (cmd: string, fields: Record<string, unknown>) => result<IoctlResult>(a, { op: 'ioctl', fd, cmd, arg: { kind: 'struct', fields: fields as never } });
      const ioas = Number((await ioctl('IOMMU_IOAS_ALLOC', {})).out?.['out_ioas_id']);
      const mock = (await ioctl('IOMMU_TEST_CMD', { op: enumValue(profile, 'IOMMU_TEST_OP_MOCK_DOMAIN'), id: ioas, mock_domain: {} })).out?.['mock_domain'] as { out_idev_id: number };
      const parent = await ioctl('IOMMU_HWPT_ALLOC', { dev_id: mock.out_idev_id, pt_id: ioas, flags: enumValue(profile, 'IOMMU_HWPT_ALLOC_NEST_PARENT') });
      expect(parent.ret).toBe(0);
      // struct iommu_hwpt_selftest { __u32 iotlb; … }: IOMMU_TEST_IOTLB_DEFAULT, then zeros.
      const data = new Uint8Array(8);
      new DataView(data.buffer).setUint32(0, enumValue(profile, 'IOMMU_TEST_IOTLB_DEFAULT') ?? 0, true);
      const nested = await ioctl('IOMMU_HWPT_ALLOC', {
        dev_id: mock.out_idev_id,
        pt_id: Number(parent.out?.['out_hwpt_id']),
        data_type: enumValue(profile, 'IOMMU_HWPT_DATA_SELFTEST'),
        data_len: 8,
        data_uptr: { data },
      });
      const reported = caps.features?.['IOMMU_HWPT_DATA_SELFTEST']?.supported === true;
      expect(nested.ret === 0, `nested allocation ${nested.ret === 0 ? 'succeeds' : `fails (errno ${nested.errno})`}, the report says ${reported ? '' : 'un'}supported`).toBe(reported);
      expect(caps.iommus.find((i) => i.name === 'mock')?.nesting).toBe(reported);
      await a.close();
    });
  }
});
