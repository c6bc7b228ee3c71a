/**
 * Device side of the reference: mock domains, HWPT_ALLOC, GET_HW_INFO,
 * attach / replace / detach and auto domains, groups, coherency.
 */
import { describe, expect, it } from 'vitest';
import { check } from '../../spec/clauses/check.ts';
import { buffer, ioasAlloc, ioctl, iovaRanges, map, newEnv, NR, testCmd, U64_MAX, MAP_R, writeRanges } from '../testing/testutil.ts';
import {
  boundDevice,
  destroy,
  dioctl,
  hwptAlloc,
  machine,
  mockDomain,
  mockReplace,
  NR_GET_HW_INFO,
  OP_MD_CHECK_IOTLB,
  OP_MD_CHECK_MAP,
  snapshot,
  vfioAttach,
  vfioDetach,
} from '../testing/devtestutil.ts';
import { EADDRINUSE, EBUSY, EFAULT, EINVAL, ENOENT, EOPNOTSUPP } from '../lib/errno.ts';
import { hwLeafSnoop } from '../testing/hw.ts';
import type { IommuDomain } from '../platform/iommu.ts';

const NEST_PARENT = 1;
const DIRTY = 2;
const FAULT_ID_VALID = 4;
const PASID = 8;
const NO_DIRTY = 1;
const HUGE_IOVA = 2;

describe('mock domain (IOMMU_TEST_OP_MOCK_DOMAIN)', () => {
  check('ref.mock_domain.ids-and-aperture', () => {
    for (const profile of ['6.12', '7.3'] as const) {
      const env = newEnv(profile);
      const ioas = ioasAlloc(env);
      expect(ioas).toBe(1);
      const md = mockDomain(env, ioas);
      expect(md).toEqual({ errno: 0, stdev: 2, idev: 3, hwpt: 4 });
      const r = iovaRanges(env, ioas);
      expect(r.ranges).toEqual([[1n << 24n, (1n << 31n) - 1n]]);
      expect(r.alignment).toBe(2048n);
    }
  });

  check('ref.device.destroy-ebusy', () => {
    const env = newEnv('6.12');
    const ioas = ioasAlloc(env);
    const md = mockDomain(env, ioas);
    expect(destroy(env, md.idev)).toBe(EBUSY);
    expect(destroy(env, md.hwpt)).toBe(EBUSY);
    expect(destroy(env, ioas)).toBe(EBUSY);
  });

  check('ref.hwpt.auto-domain-self-destructs', () => {
    const env = newEnv('6.12');
    const ioas = ioasAlloc(env);
    const md = mockDomain(env, ioas);
    expect(destroy(env, md.stdev)).toBe(0);
    expect(destroy(env, md.hwpt)).toBe(ENOENT);
    expect(destroy(env, md.idev)).toBe(ENOENT);
    expect(iovaRanges(env, ioas).ranges).toEqual([[0n, U64_MAX]]);
    expect(destroy(env, ioas)).toBe(0);
  });

  check('ref.hwpt.auto-domain-reuse', () => {
    const env = newEnv('6.12');
    const ioas = ioasAlloc(env);
    const a = mockDomain(env, ioas);
    const b = mockDomain(env, ioas);
    expect(b.errno).toBe(0);
    expect(b.hwpt).toBe(a.hwpt);
    expect(destroy(env, a.stdev)).toBe(0);
    expect(destroy(env, a.hwpt)).toBe(EBUSY); // still used by b
    expect(destroy(env, b.stdev)).toBe(0);
    expect(destroy(env, a.hwpt)).toBe(ENOENT);
  });

  check('ref.mock_domain.dev-flags', () => {
    const env = newEnv('6.12');
    const ioas = ioasAlloc(env);
    const a = mockDomain(env, ioas);
    expect(mockDomain(env, ioas, NO_DIRTY).hwpt).toBe(a.hwpt);
    const before = snapshot(env);
    expect(mockDomain(env, ioas, 1 << 5).errno).toBe(EINVAL);
    expect(snapshot(env)).toBe(before);
    // 7.3 has no HUGE_IOVA device flag
    const env73 = newEnv('7.3');
    expect(mockDomain(env73, ioasAlloc(env73), HUGE_IOVA).errno).toBe(EINVAL);
  });

  it('HUGE_IOVA (6.12) adds the 1 MiB page size but keeps the 2 KiB alignment', () => {
    const env = newEnv('6.12');
    const ioas = ioasAlloc(env);
    expect(mockDomain(env, ioas, HUGE_IOVA).errno).toBe(0);
    expect(iovaRanges(env, ioas).alignment).toBe(2048n);
  });

  it('MOCK_DOMAIN on a bad pt id fails ENOENT and leaves nothing behind', () => {
    const env = newEnv('6.12');
    ioasAlloc(env);
    const before = snapshot(env);
    expect(mockDomain(env, 77).errno).toBe(ENOENT);
    expect(snapshot(env)).toBe(before);
    expect(ioasAlloc(env)).toBe(2);
  });

  check('ref.selftest.md-check-map', () => {
    for (const profile of ['6.12', '7.3'] as const) mdCheckMap(profile);
  });

  function mdCheckMap(profile: '6.12' | '7.3'): void {
    const env = newEnv(profile);
    const ioas = ioasAlloc(env);
    const md = mockDomain(env, ioas);
    const buf = buffer(env, 16 * 4096);
    const m = map(env, ioas, buf, 16n * 4096n);
    expect(m.errno).toBe(0);
    const ok = testCmd(env, OP_MD_CHECK_MAP, md.hwpt, { 'check_map.iova': m.iova, 'check_map.length': 16n * 4096n, 'check_map.uptr': buf });
    expect(ok.errno).toBe(0);
    const other = buffer(env, 4096);
    const bad = testCmd(env, OP_MD_CHECK_MAP, md.hwpt, { 'check_map.iova': m.iova, 'check_map.length': 4096n, 'check_map.uptr': other });
    expect(bad.errno).toBe(EINVAL);
    expect(testCmd(env, OP_MD_CHECK_MAP, md.hwpt, { 'check_map.iova': m.iova + 1n, 'check_map.length': 4096n, 'check_map.uptr': buf }).errno).toBe(EINVAL);
    expect(testCmd(env, OP_MD_CHECK_MAP, md.idev, { 'check_map.iova': m.iova, 'check_map.length': 4096n, 'check_map.uptr': buf }).errno).toBe(ENOENT);
    expect(testCmd(env, OP_MD_CHECK_IOTLB, md.hwpt, {}).errno).toBe(ENOENT); // no nested HWPTs in this issue
    // 6.12 checks alignment before the lookup, 7.3 after it
    expect(testCmd(env, OP_MD_CHECK_MAP, 99, { 'check_map.iova': 1n, 'check_map.length': 4096n, 'check_map.uptr': buf }).errno).toBe(profile === '6.12' ? EINVAL : ENOENT);
  }
});

describe('IOMMU_HWPT_ALLOC', () => {
  check('ref.hwpt_alloc.errno-order', () => {
    const env = newEnv('6.12');
    const ioas = ioasAlloc(env);
    const md = mockDomain(env, ioas);
    const nd = mockDomain(env, ioas, NO_DIRTY);
    const before = snapshot(env);
    const cases: [string, Record<string, number | bigint>, number][] = [
      ['__reserved first', { __reserved: 1, data_len: 4, dev_id: 99, pt_id: 99 }, EOPNOTSUPP],
      ['NONE with data_len', { data_type: 0, data_len: 4, dev_id: 99, pt_id: 99 }, EINVAL],
      ['type without data_len', { data_type: 0xdead, data_len: 0, dev_id: 99 }, EINVAL],
      ['bad dev_id', { dev_id: 99, pt_id: 99, flags: 1 << 9 }, ENOENT],
      ['dev_id is the IOAS', { dev_id: ioas, pt_id: ioas }, ENOENT],
      ['absent pt_id is EINVAL', { dev_id: md.idev, pt_id: 99, flags: 1 << 9 }, EINVAL],
      ['pt_id is a device', { dev_id: md.idev, pt_id: md.idev }, EINVAL],
      ['pt_id is the selftest object', { dev_id: md.idev, pt_id: md.stdev }, EINVAL],
      ['unknown flag', { dev_id: md.idev, pt_id: ioas, flags: 1 << 9 }, EOPNOTSUPP],
      ['FAULT_ID_VALID on paging (6.12)', { dev_id: md.idev, pt_id: ioas, flags: FAULT_ID_VALID }, EOPNOTSUPP],
      ['DIRTY on a NO_DIRTY device', { dev_id: nd.idev, pt_id: ioas, flags: DIRTY }, EOPNOTSUPP],
      ['driver data on a paging mock (6.12)', { dev_id: md.idev, pt_id: ioas, data_type: 0xdead, data_len: 8, data_uptr: env.scratch }, EOPNOTSUPP],
      ['nested: parent not NEST_PARENT', { dev_id: md.idev, pt_id: md.hwpt, data_type: 0xdead, data_len: 4, data_uptr: env.scratch }, EINVAL],
      ['nested: flags', { dev_id: md.idev, pt_id: md.hwpt, flags: DIRTY, data_type: 0xdead, data_len: 4 }, EOPNOTSUPP],
      ['nested: no data', { dev_id: md.idev, pt_id: md.hwpt }, EOPNOTSUPP],
    ];
    for (const [name, fields, errno] of cases) {
      expect([name, hwptAlloc(env, fields).errno]).toEqual([name, errno]);
      expect(snapshot(env)).toBe(before);
    }
  });

  check('ref.hwpt_alloc.manual-flags-recorded', () => {
    const env = newEnv('6.12');
    const ioas = ioasAlloc(env);
    const md = mockDomain(env, ioas);
    const h = hwptAlloc(env, { dev_id: md.idev, pt_id: ioas, flags: NEST_PARENT | DIRTY });
    expect(h.errno).toBe(0);
    expect(h.id).toBe(5);
    const obj = env.ctx.objects.load(h.id) as unknown as { nestParent: boolean; autoDomain: boolean; domain: { dirtyOps: boolean } };
    expect(obj.nestParent).toBe(true);
    expect(obj.autoDomain).toBe(false);
    expect(obj.domain.dirtyOps).toBe(true);
    // A manual HWPT is never chosen by auto-domain selection and outlives its users.
    const b = mockDomain(env, ioas);
    expect(b.hwpt).toBe(md.hwpt);
    const c = mockDomain(env, h.id);
    expect(c.hwpt).toBe(h.id);
    expect(destroy(env, h.id)).toBe(EBUSY);
    expect(destroy(env, c.stdev)).toBe(0);
    expect(destroy(env, h.id)).toBe(0);
    // a NO_DIRTY device cannot attach to a dirty-tracking domain
    const h2 = hwptAlloc(env, { dev_id: md.idev, pt_id: ioas, flags: DIRTY });
    expect(mockDomain(env, h2.id, NO_DIRTY).errno).toBe(EINVAL);
  });

  check('ref.hwpt_alloc.fault-id-73', () => {
    const env = newEnv('7.3');
    const ioas = ioasAlloc(env);
    const md = mockDomain(env, ioas);
    const before = snapshot(env);
    expect(hwptAlloc(env, { dev_id: md.idev, pt_id: ioas, flags: FAULT_ID_VALID, fault_id: 99 }).errno).toBe(ENOENT);
    expect(hwptAlloc(env, { dev_id: md.idev, pt_id: ioas, flags: FAULT_ID_VALID | NEST_PARENT }).errno).toBe(EOPNOTSUPP);
    expect(snapshot(env)).toBe(before);
  });

  check('ref.hwpt_alloc.mock-user-data-73', () => {
    const env = newEnv('7.3');
    const ioas = ioasAlloc(env);
    const md = mockDomain(env, ioas);
    const cfg = env.scratch + 4096n;
    env.proc.copyToUser(cfg, new Uint8Array([0xef, 0xbe, 0xad, 0x0b, 1, 0, 0, 0]));
    expect(hwptAlloc(env, { dev_id: md.idev, pt_id: ioas, data_type: 0xdead, data_len: 8, data_uptr: cfg }).errno).toBe(0);
    expect(hwptAlloc(env, { dev_id: md.idev, pt_id: ioas, data_type: 7, data_len: 8, data_uptr: cfg }).errno).toBe(EOPNOTSUPP);
    expect(hwptAlloc(env, { dev_id: md.idev, pt_id: ioas, data_type: 0xdead, data_len: 2, data_uptr: cfg }).errno).toBe(EINVAL);
    expect(hwptAlloc(env, { dev_id: md.idev, pt_id: ioas, data_type: 0xdead, data_len: 16, data_uptr: cfg }).errno).toBe(EINVAL);
    expect(hwptAlloc(env, { dev_id: md.idev, pt_id: ioas, data_type: 0xdead, data_len: 8, data_uptr: 8n }).errno).toBe(EFAULT);
  });

  check('ref.hwpt_alloc.efault-aborts', () => {
    const env = newEnv('6.12');
    const ioas = ioasAlloc(env);
    const md = mockDomain(env, ioas);
    const before = snapshot(env);
    // The argument is readable but not writable: the response copy fails.
    const ro = env.proc.mmap(4096)!;
    const layoutBytes = new Uint8Array(48);
    const v = new DataView(layoutBytes.buffer);
    v.setUint32(0, 48, true);
    v.setUint32(8, md.idev, true);
    v.setUint32(12, ioas, true);
    env.proc.copyToUser(ro, layoutBytes);
    env.proc.mprotect(ro, 4096, { read: true, write: false });
    expect(hwptAlloc(env, {}, { arg: ro }).errno).toBe(EFAULT);
    expect(snapshot(env)).toBe(before);
  });
});

describe('IOMMU_GET_HW_INFO', () => {
  function hwInfo(env: ReturnType<typeof newEnv>, fields: Record<string, number | bigint>, patch?: [number, number][]) {
    const r = dioctl(env, NR_GET_HW_INFO, 'iommu_hw_info', fields, patch ? { patch } : {});
    return {
      errno: r.errno,
      type: r.out.num('out_data_type'),
      len: r.out.num('data_len'),
      caps: r.out.big('out_capabilities'),
      pasid: r.out.num('out_max_pasid_log2'),
    };
  }

  check('ref.get_hw_info.mock', () => {
    const env = newEnv('6.12');
    const md = mockDomain(env, ioasAlloc(env));
    const data = env.scratch + 4096n;
    env.proc.copyToUser(data, new Uint8Array(16).fill(0xaa));
    const r = hwInfo(env, { dev_id: md.idev, data_len: 16, data_uptr: data });
    expect(r).toEqual({ errno: 0, type: 0xfeedbeef, len: 8, caps: 1n, pasid: 0 });
    const got = new DataView(env.proc.copyFromUser(data, 16)!.buffer);
    expect(got.getUint32(0, true)).toBe(0);
    expect(got.getUint32(4, true)).toBe(0xdeadbeef);
    expect(got.getBigUint64(8, true)).toBe(0n); // zero-filled beyond the driver's 8 bytes
    // data_len 0: nothing copied (even through a bad pointer), the length still reported
    expect(hwInfo(env, { dev_id: md.idev, data_len: 0, data_uptr: 8n })).toMatchObject({ errno: 0, len: 8 });
    // a short buffer gets the first bytes only
    env.proc.copyToUser(data, new Uint8Array(8).fill(0xaa));
    expect(hwInfo(env, { dev_id: md.idev, data_len: 4, data_uptr: data }).len).toBe(8);
    expect(Array.from(env.proc.copyFromUser(data, 8)!)).toEqual([0, 0, 0, 0, 0xaa, 0xaa, 0xaa, 0xaa]);
    // NO_DIRTY devices report no dirty capability
    const nd = mockDomain(env, ioasAlloc(env), NO_DIRTY);
    expect(hwInfo(env, { dev_id: nd.idev, data_len: 8, data_uptr: data }).caps).toBe(0n);
  });

  check('ref.get_hw_info.errno-order', () => {
    const env = newEnv('6.12');
    const md = mockDomain(env, ioasAlloc(env));
    expect(hwInfo(env, { flags: 1, dev_id: 99 }).errno).toBe(EOPNOTSUPP);
    expect(hwInfo(env, { dev_id: 99 }, [[29, 1]]).errno).toBe(EOPNOTSUPP);
    expect(hwInfo(env, { dev_id: 99 }, [[31, 1]]).errno).toBe(EOPNOTSUPP);
    expect(hwInfo(env, { dev_id: 99 }).errno).toBe(ENOENT);
    expect(hwInfo(env, { dev_id: md.hwpt }).errno).toBe(ENOENT);
    expect(hwInfo(env, { dev_id: md.idev, data_len: 8, data_uptr: 8n }).errno).toBe(EFAULT);
  });

  check('ref.get_hw_info.input-type-73', () => {
    const env = newEnv('7.3');
    const ioas = ioasAlloc(env);
    const md = mockDomain(env, ioas, 1 << 2);
    expect(hwInfo(env, { dev_id: md.idev, flags: 1, out_data_type: 0xfeedbeef })).toMatchObject({ errno: 0, type: 0xfeedbeef, pasid: 20 });
    expect(hwInfo(env, { dev_id: md.idev, flags: 1, out_data_type: 1 }).errno).toBe(EOPNOTSUPP);
    expect(hwInfo(env, { dev_id: md.idev, out_data_type: 1 }).errno).toBe(0); // ignored without the flag
    expect(hwInfo(env, { dev_id: md.idev, flags: 2 }).errno).toBe(EOPNOTSUPP);
  });

  check('ref.get_hw_info.vendor-instances', () => {
    for (const profile of ['6.12', '7.3'] as const) {
      const env = newEnv(profile);
      const data = env.scratch + 4096n;
      const want: Record<string, [number, number]> = {
        vtd0: [1, 24],
        amd0: profile === '6.12' ? [0, 0] : [4, 16],
        smmu0: profile === '6.12' ? [0, 0] : [2, 40],
      };
      for (const [iommu, [type, len]] of Object.entries(want)) {
        const d = boundDevice(env, { iommu });
        const r = hwInfo(env, { dev_id: d.devid, data_len: 64, data_uptr: data });
        expect([iommu, r.errno, r.type, r.len]).toEqual([iommu, 0, type, len]);
      }
      const vtd = boundDevice(env, { iommu: 'vtd0' });
      hwInfo(env, { dev_id: vtd.devid, data_len: 24, data_uptr: data });
      const vtdData = new DataView(env.proc.copyFromUser(data, 24)!.buffer);
      // intel_iommu_hw_info, both profiles: "vtd->flags = IOMMU_HW_INFO_VTD_ERRATA_772415_SPR17;" (bit 0), whatever the unit
      expect(vtdData.getUint32(0, true)).toBe(1);
      const ecap = vtdData.getBigUint64(16, true);
      expect((ecap >> 7n) & 1n).toBe(1n); // snoop control
      const nosc = boundDevice(env, { iommu: 'vtd0', enforceCacheCoherency: false });
      hwInfo(env, { dev_id: nosc.devid, data_len: 24, data_uptr: data });
      expect((new DataView(env.proc.copyFromUser(data, 24)!.buffer).getBigUint64(16, true) >> 7n) & 1n).toBe(0n);
    }
  });
});

describe('attach, replace, detach', () => {
  check('ref.replace.moves-and-frees-auto', () => {
    const env = newEnv('6.12');
    const ioas = ioasAlloc(env);
    const md = mockDomain(env, ioas);
    const manual = hwptAlloc(env, { dev_id: md.idev, pt_id: ioas });
    expect(mockReplace(env, md.stdev, manual.id)).toEqual({ errno: 0, pt: manual.id });
    expect(destroy(env, md.hwpt)).toBe(ENOENT); // the old auto domain went with its last user
    // replace to the same HWPT is a no-op success
    expect(mockReplace(env, md.stdev, manual.id).errno).toBe(0);
    // replace to an IOAS picks/creates an auto domain there
    const ioas2 = ioasAlloc(env);
    const r = mockReplace(env, md.stdev, ioas2);
    expect(r.errno).toBe(0);
    expect(r.pt).not.toBe(manual.id);
    expect(iovaRanges(env, ioas2).ranges).toEqual([[1n << 24n, (1n << 31n) - 1n]]);
    expect(destroy(env, manual.id)).toBe(0);
  });

  check('ref.replace.atomic-on-failure', () => {
    const env = newEnv('6.12');
    const ioas = ioasAlloc(env);
    const md = mockDomain(env, ioas);
    const nd = mockDomain(env, ioas, NO_DIRTY);
    const dirty = hwptAlloc(env, { dev_id: md.idev, pt_id: ioas, flags: DIRTY });
    const buf = buffer(env, 8192);
    const m = map(env, ioas, buf, 8192n);
    const before = snapshot(env);
    expect(mockReplace(env, nd.stdev, dirty.id).errno).toBe(EINVAL);
    expect(snapshot(env)).toBe(before);
    // still translating through the old domain
    expect(testCmd(env, OP_MD_CHECK_MAP, nd.hwpt, { 'check_map.iova': m.iova, 'check_map.length': 8192n, 'check_map.uptr': buf }).errno).toBe(0);
    expect(mockReplace(env, nd.stdev, 99).errno).toBe(ENOENT);
    expect(mockReplace(env, nd.idev, ioas).errno).toBe(ENOENT); // not a selftest object
    expect(mockReplace(env, nd.stdev, nd.idev).errno).toBe(EINVAL);
    expect(snapshot(env)).toBe(before);
  });

  check('ref.attach.resv-vs-allowed', () => {
    const env = newEnv('6.12');
    const ioas = ioasAlloc(env);
    // an allowed range covering the x86 MSI window blocks a VT-d device's reservation
    writeRanges(env, env.scratch + 4096n, [[0xfe000000n, 0xfeffffffn]]);
    expect(ioctl(env, NR.IOMMU_IOAS_ALLOW_IOVAS, { ioas_id: ioas, num_iovas: 1, allowed_iovas: env.scratch + 4096n }).errno).toBe(0);
    const d = boundDevice(env, { iommu: 'vtd0' });
    const before = snapshot(env);
    expect(vfioAttach(env, d.fd, ioas).errno).toBe(EADDRINUSE);
    expect(snapshot(env)).toBe(before);
    // without the allowed range the same attach works
    expect(ioctl(env, NR.IOMMU_IOAS_ALLOW_IOVAS, { ioas_id: ioas, num_iovas: 0, allowed_iovas: 0n }).errno).toBe(0);
    expect(vfioAttach(env, d.fd, ioas).errno).toBe(0);
  });

  check('ref.replace.same-ioas-failure-drops-resv', () => {
    // Mirrors a quirk of iommufd_device_do_replace (6.12 and 7.3): when the
    // driver refuses the new HWPT of the *same* IOAS, err_unresv removes the
    // group's reserved regions from that IOAS although the group stays
    // attached to the old HWPT there.
    const env = newEnv('6.12');
    const ioas = ioasAlloc(env);
    const x = boundDevice(env, { iommu: 'vtd0', dirtyTracking: false });
    expect(vfioAttach(env, x.fd, ioas).errno).toBe(0);
    const msiHole = [[0n, 0xfedfffffn], [0xfef00000n, (1n << 48n) - 1n]];
    expect(iovaRanges(env, ioas).ranges).toEqual(msiHole);
    const y = boundDevice(env, { iommu: 'vtd0' });
    const dirty = hwptAlloc(env, { dev_id: y.devid, pt_id: ioas, flags: DIRTY });
    expect(dirty.errno).toBe(0);
    expect(vfioAttach(env, x.fd, dirty.id).errno).toBe(EINVAL);
    expect(iovaRanges(env, ioas).ranges).toEqual([[0n, (1n << 48n) - 1n]]);
    // a replace into another IOAS that fails keeps them (nothing was added there)
    const ioas2 = ioasAlloc(env);
    const d2 = hwptAlloc(env, { dev_id: y.devid, pt_id: ioas2, flags: DIRTY });
    const before = snapshot(env);
    expect(vfioAttach(env, x.fd, d2.id).errno).toBe(EINVAL);
    expect(snapshot(env)).toBe(before);
  });

  check('ref.attach.aperture-conflict', () => {
    const env = newEnv('6.12');
    const ioas = ioasAlloc(env);
    const buf = buffer(env, 4096);
    // an area outside the mock aperture makes the mock domain impossible
    expect(map(env, ioas, buf, 4096n, 0x1000n).errno).toBe(0);
    const before = snapshot(env);
    expect(mockDomain(env, ioas).errno).toBe(EADDRINUSE);
    expect(snapshot(env)).toBe(before);
  });
});

describe('groups (VFIO devices in shared iommu groups)', () => {
  check('ref.group.ownership-eperm', () => {
    const a = newEnv('6.12');
    const m = machine(a);
    const c1 = m.deviceCreate({ iommu: 'vtd0' });
    if (!c1.ok) throw new Error(c1.message);
    const d2 = m.deviceCreate({ iommu: 'vtd0', group: c1.group });
    expect(d2.ok).toBe(true);
    if (!d2.ok) return;
    expect(bindTo(a, openDevFor(a, c1.device), a.fd).errno).toBe(0);
    // a second iommufd in the same process cannot own the group
    const other = newEnvSameProcess(a);
    const fd2 = openDevFor(a, d2.device);
    const r = bindTo(a, fd2, other.fd);
    expect(r.errno).toBe(1); // EPERM
    // the same ctx may bind the group's other device
    expect(bindTo(a, fd2, a.fd).errno).toBe(0);
  });

  check('ref.group.same-hwpt-and-resv-join', () => {
    const env = newEnv('6.12');
    const m = machine(env);
    const c1 = m.deviceCreate({ iommu: 'vtd0' });
    if (!c1.ok) throw new Error(c1.message);
    const c2 = m.deviceCreate({ iommu: 'vtd0', group: c1.group, reservedRegions: [{ start: 0x100000n, last: 0x1fffffn }] });
    if (!c2.ok) throw new Error(c2.message);
    const d1 = { group: c1.group, fd: openDevFor(env, c1.device), devid: 0 };
    d1.devid = bindTo(env, d1.fd, env.fd).devid;
    const fd2 = openDevFor(env, c2.device);
    expect(bindTo(env, fd2, env.fd).errno).toBe(0);
    const ioas = ioasAlloc(env);
    const a1 = vfioAttach(env, d1.fd, ioas);
    expect(a1.errno).toBe(0);
    // only d1's regions so far (the x86 MSI window)
    expect(iovaRanges(env, ioas).ranges).toEqual([
      [0n, 0xfedfffffn],
      [0xfef00000n, (1n << 48n) - 1n],
    ]);
    // another HWPT for the second device of the group: EINVAL
    const manual = hwptAlloc(env, { dev_id: d1.devid, pt_id: ioas });
    expect(vfioAttach(env, fd2, manual.id).errno).toBe(EINVAL);
    // the IOAS: auto selection finds the group's HWPT
    const a2 = vfioAttach(env, fd2, ioas);
    expect(a2).toEqual({ errno: 0, pt: a1.pt });
    expect(iovaRanges(env, ioas).ranges).toEqual([
      [0n, 0xfffffn],
      [0x200000n, 0xfedfffffn],
      [0xfef00000n, (1n << 48n) - 1n],
    ]);
    // replace from the second device moves the whole group
    const r = vfioAttach(env, fd2, manual.id);
    expect(r).toEqual({ errno: 0, pt: manual.id });
    expect(destroy(env, a1.pt)).toBe(ENOENT); // old auto HWPT: no users left
    const grp = m.group(d1.group)!;
    expect(grp.domain).toBe((env.ctx.objects.load(manual.id) as unknown as { domain: unknown }).domain);
    // detaching one device keeps the group attached; the last one blocks it
    expect(vfioDetach(env, d1.fd)).toBe(0);
    expect(grp.domain.type).toBe('paging');
    expect(vfioDetach(env, fd2)).toBe(0);
    expect(grp.domain.type).toBe('blocked');
    expect(vfioDetach(env, fd2)).toBe(0); // not attached: silent no-op
    // the devices' regions left with them; the manual HWPT's aperture stays
    expect(iovaRanges(env, ioas).ranges).toEqual([[0n, (1n << 48n) - 1n]]);
    expect(destroy(env, manual.id)).toBe(0);
    expect(iovaRanges(env, ioas).ranges).toEqual([[0n, U64_MAX]]);
  });

  check('ref.replace.unattached-device-einval', () => {
    const env = newEnv('6.12');
    const m = machine(env);
    const c1 = m.deviceCreate({ iommu: 'vtd0' });
    if (!c1.ok) throw new Error(c1.message);
    const c2 = m.deviceCreate({ iommu: 'vtd0', group: c1.group });
    if (!c2.ok) throw new Error(c2.message);
    const d1 = { fd: openDevFor(env, c1.device) };
    bindTo(env, d1.fd, env.fd);
    const fd2 = openDevFor(env, c2.device);
    bindTo(env, fd2, env.fd);
    const ioas = ioasAlloc(env);
    vfioAttach(env, d1.fd, ioas);
    const idev2 = (env.proc.fds.lookup(fd2)!.private_data as { device: { iommufdDevice: import('./iommufd_private.ts').IommufdDevice } }).device.iommufdDevice;
    const before = snapshot(env);
    return import('./device.ts').then(({ iommufdDeviceReplace }) => {
      expect(iommufdDeviceReplace(idev2, { value: ioas })).toBe(-EINVAL);
      expect(snapshot(env)).toBe(before);
    });
  });

  check('ref.group.fixed-at-probe', () => {
    const env = newEnv('6.12');
    const m = machine(env);
    const d1 = boundDevice(env, { iommu: 'vtd0' });
    expect(m.deviceCreate({ iommu: 'vtd0', group: d1.group }).ok).toBe(false);
    const mk = m.deviceCreate({ iommu: 'mock' });
    expect(mk.ok).toBe(true);
    if (mk.ok) expect(m.deviceCreate({ iommu: 'mock', group: mk.group }).ok).toBe(false);
    expect(m.deviceCreate({ iommu: 'smmu0', group: d1.group }).ok).toBe(false);
  });
});

describe('IOMMU instances and coherency (seeds 001 and 002)', () => {
  function attached(env: ReturnType<typeof newEnv>, spec: Parameters<ReturnType<typeof machine>['deviceCreate']>[0], pt: number) {
    const d = boundDevice(env, spec);
    const a = vfioAttach(env, d.fd, pt);
    return { ...d, ...a };
  }
  function enforces(env: ReturnType<typeof newEnv>, hwpt: number): boolean {
    return (env.ctx.objects.load(hwpt) as unknown as { enforceCacheCoherency: boolean }).enforceCacheCoherency;
  }

  check('ref.hwpt.auto-domain-across-instances', () => {
    const env = newEnv('6.12');
    const ioas = ioasAlloc(env);
    const a = attached(env, { iommu: 'vtd0' }, ioas);
    const b = attached(env, { iommu: 'vtd2' }, ioas); // a compatible unit: same page table
    expect(b.errno).toBe(0);
    expect(b.pt).toBe(a.pt);
    const c = attached(env, { iommu: 'vtd1' }, ioas); // no snoop control: a new domain
    expect(c.errno).toBe(0);
    expect(c.pt).not.toBe(a.pt);
    const d = attached(env, { iommu: 'smmu0' }, ioas); // another driver: a new domain
    expect(d.pt).not.toBe(a.pt);
    expect(d.pt).not.toBe(c.pt);
  });

  check('ref.hwpt.vtd-table-depth-in-sagaw', () => {
    // A 3-level table made for vtd1 (SAGAW 39-bit only) on vtd0 (SAGAW 48-bit only): 7.3's
    // paging_domain_compatible_second_stage tests cap_sagaw & BIT(pt_info.aw) (EINVAL), 6.12's
    // prepare_domain_attach_device only knocks out levels of a deeper table and takes it.
    for (const [profile, errno] of [['6.12', 0], ['7.3', EINVAL]] as const) {
      const env = newEnv(profile);
      const ioas = ioasAlloc(env);
      const narrow = boundDevice(env, { iommu: 'vtd1' });
      const h = hwptAlloc(env, { dev_id: narrow.devid, pt_id: ioas });
      expect(h.errno).toBe(0);
      const wide = boundDevice(env, { iommu: 'vtd0', enforceCacheCoherency: false, dirtyTracking: false });
      expect(vfioAttach(env, wide.fd, h.id).errno, profile).toBe(errno);
      // by IOAS id the search passes over vtd1's automatic domain and makes one of its own
      const ioas2 = ioasAlloc(env);
      const autoNarrow = attached(env, { iommu: 'vtd1' }, ioas2);
      const r = attached(env, { iommu: 'vtd0', enforceCacheCoherency: false, dirtyTracking: false }, ioas2);
      expect(r.errno).toBe(0);
      expect(r.pt === autoNarrow.pt, profile).toBe(profile === '6.12');
    }
  });

  check('ref.hwpt.coherency-decided-at-alloc', () => {
    const env = newEnv('6.12');
    const ioas = ioasAlloc(env);
    const buf = buffer(env, 8192);
    expect(map(env, ioas, buf, 8192n).errno).toBe(0);
    const v = attached(env, { iommu: 'vtd0' }, ioas);
    const s = attached(env, { iommu: 'smmu0' }, ioas);
    // A CANWBS master reuses the non-enforcing smmu domain (non-CC domains take CC devices)...
    const w = attached(env, { iommu: 'smmu0', enforceCacheCoherency: true }, ioas);
    expect(w.pt).toBe(s.pt);
    expect(enforces(env, v.pt)).toBe(true);
    expect(enforces(env, s.pt)).toBe(false);
    // ...but gets an enforcing one when it is the first in an IOAS.
    const ioas2 = ioasAlloc(env);
    const w2 = attached(env, { iommu: 'smmu0', enforceCacheCoherency: true }, ioas2);
    expect(enforces(env, w2.pt)).toBe(true);
    // every PTE of an enforcing domain carries the format's snoop bit (VT-d SNP,
    // AMD FC), also for the area mapped before the domain existed
    const area = env.ctx.objects.load(ioas) as unknown as { iopt: { areas: { start: bigint }[] } };
    const iova = Number(area.iopt.areas[0]!.start);
    const hwOf = (pt: number) => (env.ctx.objects.load(pt) as unknown as { domain: IommuDomain }).domain.hw!;
    expect(hwLeafSnoop(hwOf(v.pt), iova)).toBe(true);
    const nosc = attached(env, { iommu: 'vtd1' }, ioas);
    expect(enforces(env, nosc.pt)).toBe(false);
    expect(hwLeafSnoop(hwOf(nosc.pt), iova)).toBe(false);
    const amd = attached(env, { iommu: 'amd0' }, ioas);
    expect(enforces(env, amd.pt)).toBe(true);
    expect(hwLeafSnoop(hwOf(amd.pt), iova)).toBe(true);
    // DMA from the enforcing domain's device reaches the buffer as usual
    expect(machine(env).dma(v.device, BigInt(iova), 'read', undefined, 8)?.ok).toBe(true);
  });

  check('ref.hwpt.enforcing-domain-refuses-noncoherent-device', () => {
    const env = newEnv('6.12');
    const ioas = ioasAlloc(env);
    const canwbs = boundDevice(env, { iommu: 'smmu0', enforceCacheCoherency: true });
    const cc = hwptAlloc(env, { dev_id: canwbs.devid, pt_id: ioas });
    expect(enforces(env, cc.id)).toBe(true);
    const plain = boundDevice(env, { iommu: 'smmu0' });
    const before = snapshot(env);
    expect(vfioAttach(env, plain.fd, cc.id).errno).toBe(EINVAL);
    expect(snapshot(env)).toBe(before);
    // a non-enforcing HWPT made for a non-coherent device takes a coherent one
    const nc = hwptAlloc(env, { dev_id: plain.devid, pt_id: ioas });
    expect(enforces(env, nc.id)).toBe(false);
    expect(vfioAttach(env, canwbs.fd, nc.id).errno).toBe(0);
    // VT-d: a device on a unit without snoop control is refused by an enforcing domain
    const v = boundDevice(env, { iommu: 'vtd0' });
    const vcc = hwptAlloc(env, { dev_id: v.devid, pt_id: ioas });
    const vnosc = boundDevice(env, { iommu: 'vtd0', enforceCacheCoherency: false });
    expect(vfioAttach(env, vnosc.fd, vcc.id).errno).toBe(EINVAL);
  });

  check('ref.hwpt_alloc.driver-flags', () => {
    const env = newEnv('6.12');
    const ioas = ioasAlloc(env);
    const amd = boundDevice(env, { iommu: 'amd0' });
    expect(hwptAlloc(env, { dev_id: amd.devid, pt_id: ioas, flags: NEST_PARENT }).errno).toBe(EOPNOTSUPP);
    expect(hwptAlloc(env, { dev_id: amd.devid, pt_id: ioas, flags: DIRTY }).errno).toBe(EOPNOTSUPP);
    const vtd = boundDevice(env, { iommu: 'vtd0' });
    expect(hwptAlloc(env, { dev_id: vtd.devid, pt_id: ioas, flags: NEST_PARENT | DIRTY }).errno).toBe(0);
    const vtd1 = boundDevice(env, { iommu: 'vtd1' });
    expect(hwptAlloc(env, { dev_id: vtd1.devid, pt_id: ioas, flags: DIRTY }).errno).toBe(EOPNOTSUPP);
    expect(hwptAlloc(env, { dev_id: vtd1.devid, pt_id: ioas, flags: NEST_PARENT }).errno).toBe(EOPNOTSUPP);
    // SMMUv3: 6.12 arm_smmu_domain_alloc_user takes DIRTY_TRACKING alone; 7.3
    // arm_smmu_domain_alloc_paging_flags takes NEST_PARENT alone (a stage-2 domain).
    const smmu = boundDevice(env, { iommu: 'smmu0' });
    expect(hwptAlloc(env, { dev_id: smmu.devid, pt_id: ioas, flags: NEST_PARENT }).errno).toBe(EOPNOTSUPP);
    const env73 = newEnv('7.3');
    const ioas73 = ioasAlloc(env73);
    const smmu73 = boundDevice(env73, { iommu: 'smmu0' });
    expect(hwptAlloc(env73, { dev_id: smmu73.devid, pt_id: ioas73, flags: NEST_PARENT | PASID }).errno).toBe(EOPNOTSUPP);
    expect(hwptAlloc(env73, { dev_id: smmu73.devid, pt_id: ioas73, flags: NEST_PARENT }).errno).toBe(0);
    expect(hwptAlloc(env73, { dev_id: smmu73.devid, pt_id: ioas73, flags: PASID }).errno).toBe(0);
    // AMD 7.3 amd_iommu_domain_alloc_paging_flags: PASID alone is a v2 table; mixed with any other flag,
    // EOPNOTSUPP. (amd0 neither tracks dirty pages nor nests, so the core and the driver's capability
    // tests refuse these mixes too: the switch decides only on a unit that has both.)
    const amd73 = boundDevice(env73, { iommu: 'amd0' });
    expect(hwptAlloc(env73, { dev_id: amd73.devid, pt_id: ioas73, flags: DIRTY | PASID }).errno).toBe(EOPNOTSUPP);
    expect(hwptAlloc(env73, { dev_id: amd73.devid, pt_id: ioas73, flags: NEST_PARENT | PASID }).errno).toBe(EOPNOTSUPP);
    expect(hwptAlloc(env73, { dev_id: amd73.devid, pt_id: ioas73, flags: PASID }).errno).toBe(0);
  });

  check('ref.hwpt_alloc.vtd-nest-parent-refuses-read-only', () => {
    // ERRATA_772415_SPR17: 7.3 intel_iommu_domain_alloc_paging_flags sets PT_FEAT_VTDSS_FORCE_WRITEABLE
    // on a nesting parent (vtdss_pt_iommu_set_prot: EINVAL without IOMMU_WRITE); 6.12's __domain_mapping
    // refuses !DMA_PTE_WRITE on a nested_parent domain.
    for (const profile of ['6.12', '7.3'] as const) {
      const env = newEnv(profile);
      const ioas = ioasAlloc(env);
      const buf = buffer(env, 8192);
      const vtd = boundDevice(env, { iommu: 'vtd0' });
      expect(hwptAlloc(env, { dev_id: vtd.devid, pt_id: ioas, flags: NEST_PARENT }).errno).toBe(0);
      const before = snapshot(env);
      expect(map(env, ioas, buf, 4096n, 0x100000n, MAP_R).errno, profile).toBe(EINVAL);
      expect(snapshot(env)).toBe(before);
      expect(map(env, ioas, buf, 4096n, 0x100000n).errno, profile).toBe(0);
      // the other way round: a nesting parent cannot join an IOAS that holds a read-only area
      const ro = ioasAlloc(env);
      expect(map(env, ro, buf + 4096n, 4096n, 0x100000n, MAP_R).errno).toBe(0);
      expect(hwptAlloc(env, { dev_id: vtd.devid, pt_id: ro, flags: NEST_PARENT }).errno, profile).toBe(EINVAL);
      expect(hwptAlloc(env, { dev_id: vtd.devid, pt_id: ro }).errno, profile).toBe(0);
    }
  });

  check('ref.attach.narrow-aperture-eaddrinuse', () => {
    const env = newEnv('6.12');
    const ioas = ioasAlloc(env);
    const buf = buffer(env, 4096);
    expect(map(env, ioas, buf, 4096n, 1n << 40n, MAP_R).errno).toBe(0); // beyond vtd1's 39 bits
    const d = boundDevice(env, { iommu: 'vtd1' });
    const before = snapshot(env);
    expect(vfioAttach(env, d.fd, ioas).errno).toBe(EADDRINUSE);
    expect(snapshot(env)).toBe(before);
  });
});

// ---- small helpers over a second iommufd in the same process ----------------------
import { iommufdFopsOpen } from './main.ts';
import { vfioBind, openDev } from '../testing/devtestutil.ts';

function newEnvSameProcess(env: ReturnType<typeof newEnv>): { fd: number } {
  const { file } = iommufdFopsOpen(env.proc, machine(env), env.profile);
  return { fd: env.proc.fds.install(file) };
}
function openDevFor(env: ReturnType<typeof newEnv>, device: number): number {
  return openDev(env, device);
}
function bindTo(env: ReturnType<typeof newEnv>, devFd: number, iommufd: number) {
  return vfioBind(env, devFd, iommufd);
}
