/**
 * Two 7.3 answers the kernel lane showed the reference got wrong: GET_HW_INFO
 * reports IOMMU_HW_CAP_PCI_ATS_NOT_SUPPORTED for a device without ATS, and the
 * generic_pt mock domain hides page sizes of half its (fixed) top table or more,
 * so VFIO_IOMMU_GET_INFO's iova_pgsizes stops at 2^36.
 */
import { describe, expect } from 'vitest';
import { check } from '../../spec/clauses/check.ts';
import type { SingleRequest } from '../../spec/contract/types.ts';
import { createReferenceAdapter } from './adapter.ts';
import { makeGeometry } from '../pagetable/format.ts';

async function call(impl: ReturnType<typeof createReferenceAdapter>, req: SingleRequest): Promise<Record<string, unknown>> {
  const r = await impl.handle(req);
  if (!r.ok) throw new Error(`${req.op}: ${r.error.message}`);
  return r.result as Record<string, unknown>;
}

async function mockDeviceHwCaps(profile: '6.12' | '7.3'): Promise<number> {
  const impl = createReferenceAdapter(profile);
  const { fd } = (await call(impl, { op: 'open', node: 'iommu' })) as { fd: number };
  const ioas = (await call(impl, { op: 'ioctl', fd, cmd: 'IOMMU_IOAS_ALLOC', arg: { kind: 'struct', fields: {} } })) as { out: { out_ioas_id: number } };
  const md = (await call(impl, {
    op: 'ioctl',
    fd,
    cmd: 'IOMMU_TEST_CMD',
    arg: { kind: 'struct', fields: { op: 2, id: ioas.out.out_ioas_id } },
  })) as { errno: number; out: { mock_domain: { out_idev_id: number } } };
  expect(md.errno).toBe(0);
  const info = (await call(impl, {
    op: 'ioctl',
    fd,
    cmd: 'IOMMU_GET_HW_INFO',
    arg: { kind: 'struct', fields: { dev_id: md.out.mock_domain.out_idev_id } },
  })) as { errno: number; out: { out_capabilities: bigint } };
  expect(info.errno).toBe(0);
  await impl.close?.();
  return Number(info.out.out_capabilities);
}

describe('7.3 mock answers', () => {
  check('ref.get_hw_info.ats-not-supported-73', async () => {
    expect(await mockDeviceHwCaps('7.3')).toBe(1 | 8); // DIRTY_TRACKING | PCI_ATS_NOT_SUPPORTED
    expect(await mockDeviceHwCaps('6.12')).toBe(1); // 6.12 has no ATS capability bit
  });

  check('ref.pagetable.generic-pt-pgsize-trim', () => {
    const g = makeGeometry({ format: 'mock-amdv1' });
    if (typeof g === 'string') throw new Error(g);
    // 2 KiB .. 2^36: level 2 items are 2^29, a fixed 3-level top is 2^38 wide, log2_mod(…, 38 - 1).
    expect(Math.max(...g.pgsizes)).toBe(36);
    expect(Math.min(...g.pgsizes)).toBe(11);
    const v = makeGeometry({ format: 'amd-v1' });
    if (typeof v === 'string') throw new Error(v);
    expect(Math.max(...v.pgsizes)).toBe(51); // dynamic top: only the 52-bit OA limits it
    expect(v.pgsizes).not.toContain(39); // never 512 GiB
  });
});
