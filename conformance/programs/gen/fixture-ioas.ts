/**
 * Ports of FIXTURE(iommufd_ioas) × {no_domain, mock_domain, two_mock_domain,
 * mock_domain_limit} (tools/testing/selftests/iommu/iommufd.c).
 */
import type { Profile } from '../../../spec/contract/types.ts';
import type { Json, StepExpect } from '../types.ts';
import { MOCK_APERTURE_LAST } from '../../../spec/uapi/constants.ts';
import { BUFFER_SIZE, err, hex, MOCK_APERTURE_START, MOCK_PAGE_SIZE, ok, PAGE_SIZE, va, type ProgramBuilder, type TestDef } from './dsl.ts';

const FILE = 'tools/testing/selftests/iommu/iommufd.c';
const BOTH: readonly Profile[] = ['6.12', '7.3'];
const U64_MAX = '0xffffffffffffffff';

export interface IoasVariant {
  readonly name: string;
  readonly mockDomains: number;
  readonly memoryLimit: number;
  readonly pasidCapable: boolean;
}

export const IOAS_VARIANTS: readonly IoasVariant[] = [
  { name: 'no_domain', mockDomains: 0, memoryLimit: 0, pasidCapable: false },
  { name: 'mock_domain', mockDomains: 1, memoryLimit: 0, pasidCapable: true },
  { name: 'two_mock_domain', mockDomains: 2, memoryLimit: 0, pasidCapable: false },
  { name: 'mock_domain_limit', mockDomains: 1, memoryLimit: 16, pasidCapable: false },
];

/** The fixture's state as the tests read it (self->…). */
export interface IoasSelf {
  readonly variant: IoasVariant;
  readonly hasDomain: boolean;
  readonly baseIova: number;
}

/** FIXTURE_SETUP(iommufd_ioas). */
function setup(p: ProgramBuilder, v: IoasVariant): IoasSelf {
  p.memAlloc();
  p.open();
  p.ioasAlloc('ioas');
  if (v.memoryLimit === 0) p.setDefaultMemoryLimit();
  else p.setTempMemoryLimit(v.memoryLimit);
  for (let i = 0; i < v.mockDomains; i++) {
    p.mockDomain('$ioas');
    if (p.profile === '7.3') for (let c = 0; c < 4; c++) devCheckCache(p, '$idev', c, 'IOMMU_TEST_DEV_CACHE_DEFAULT');
  }
  // Debian's 6.12 selftest names MOCK_FLAGS_DEVICE_PASID, which its kernel's
  // iommufd_test.h does not define (a partial backport): 6.12 has no PASID mock device.
  if (v.pasidCapable && p.profile === '7.3') p.mockDomainFlags('$ioas', 'MOCK_FLAGS_DEVICE_PASID', 'pasid_');
  return { variant: v, hasDomain: v.mockDomains > 0, baseIova: v.mockDomains > 0 ? MOCK_APERTURE_START : 0 };
}

export function devCheckCache(p: ProgramBuilder, idev: Json, cache: number, expected: Json): void {
  p.test('DEV_CHECK_CACHE', idev, 'check_dev_cache', { id: cache, cache: expected }, { expect: ok });
}

function teardown(p: ProgramBuilder): void {
  p.setDefaultMemoryLimit();
  p.teardown();
}

export function ioasTest(
  test: string,
  description: string,
  body: (p: ProgramBuilder, self: IoasSelf) => void,
  o: { kernels?: readonly Profile[]; variants?: readonly string[]; requires?: TestDef['requires'] } = {},
): TestDef[] {
  return IOAS_VARIANTS.filter((v) => !o.variants || o.variants.includes(v.name)).map((v) => ({
    name: `iommufd_ioas.${v.name}.${test}`,
    description,
    source: { file: FILE, fixture: 'iommufd_ioas', variant: v.name, test, kernels: o.kernels ?? BOTH },
    ...(o.requires && v.mockDomains > 0 ? { requires: o.requires } : {}),
    build: (p: ProgramBuilder) => {
      const self = setup(p, v);
      body(p, self);
      teardown(p);
    },
  }));
}

function allowIovas(p: ProgramBuilder, ranges: readonly (readonly [number, number])[], expect: StepExpect): void {
  p.ioctl(
    'IOMMU_IOAS_ALLOW_IOVAS',
    { ioas_id: '$ioas', num_iovas: ranges.length, allowed_iovas: ranges.length ? { data: { u64s: ranges.flatMap(([s, l]) => [hex(s), hex(l)]) } } : '0' },
    { expect },
  );
}

function addReserved(p: ProgramBuilder, start: number | string, length: number | string, expect: StepExpect = ok): void {
  p.test('ADD_RESERVED', '$ioas', 'add_reserved', { start: typeof start === 'number' ? hex(start) : start, length: typeof length === 'number' ? hex(length) : length }, { expect });
}

/** The allowed set of an automatic IOVA: aligned to the length's lowest set bit (ffs), inside [lo, hi]. */
function autoIova(length: number, lo?: number, hi?: number): Json {
  const align = length & -length;
  const parts: Json[] = [{ aligned: align }];
  if (lo !== undefined && hi !== undefined) parts.push({ range: [hex(lo), hex(hi)] });
  return { all: parts };
}

const selftestData = (p: ProgramBuilder): Json => ({ data: { u32s: p.profile === '7.3' ? ['IOMMU_TEST_IOTLB_DEFAULT', 0] : ['IOMMU_TEST_IOTLB_DEFAULT'] } });
const selftestDataLen = (p: ProgramBuilder): number => (p.profile === '7.3' ? 8 : 4);

function hwptAlloc(p: ProgramBuilder, dev: Json, pt: Json, flags: Json, bind: string | undefined, expect: StepExpect, extra: { [k: string]: Json } = {}): void {
  p.ioctl('IOMMU_HWPT_ALLOC', { dev_id: dev, pt_id: pt, flags, ...extra }, { expect, bind: bind && expect.ok ? { [bind]: 'out.out_hwpt_id' } : undefined });
}

function hwptAllocNested(p: ProgramBuilder, dev: Json, parent: Json, flags: Json, bind: string | undefined, dataType: Json, data: Json, dataLen: number, expect: StepExpect, faultId?: Json): void {
  const extra: { [k: string]: Json } = { data_type: dataType, data_len: dataLen, data_uptr: data };
  if (faultId !== undefined) extra['fault_id'] = faultId;
  hwptAlloc(p, dev, parent, flags, bind, expect, extra);
}

function checkIotlb(p: ProgramBuilder, hwpt: Json, id: number, expected: Json): void {
  p.test('MD_CHECK_IOTLB', hwpt, 'check_iotlb', { id, iotlb: expected }, { expect: ok });
}

function invalidate(p: ProgramBuilder, hwpt: Json, reqs: readonly (readonly [Json, Json])[] | null, dataType: Json, entryLen: number, entryNum: number, expect: StepExpect, outNum?: number): void {
  const data: Json = reqs === null ? '0' : { data: { u32s: reqs.length ? reqs.flatMap(([f, id]) => [f, id]) : [0, 0] } };
  p.ioctl(
    'IOMMU_HWPT_INVALIDATE',
    { hwpt_id: hwpt, data_uptr: data, data_type: dataType, entry_len: entryLen, entry_num: entryNum },
    { expect: outNum !== undefined ? { ...expect, out: { entry_num: outNum } } : expect },
  );
}

/** _test_cmd_trigger_iopf: trigger, read the struct iommu_hwpt_pgfault (40 bytes), answer its cookie. */
export function triggerIopf(p: ProgramBuilder, idev: Json, pasid: number, faultFd: string): void {
  p.test('TRIGGER_IOPF', 0, 'trigger_iopf', { dev_id: idev, pasid, grpid: 2, perm: 'IOMMU_PGFAULT_PERM_READ|IOMMU_PGFAULT_PERM_WRITE', addr: '0xdeadbeaf' }, { expect: ok });
  p.step('read', { fd: faultFd, count: 40 }, { expect: { ok: true, ret: 40, result: { data: { any: true } } }, bind: { pgfault: 'data' }, note: 'struct iommu_hwpt_pgfault' });
  p.step('write', { fd: faultFd, data: { u32s: [{ $: 'pgfault', u32at: 36 }, 'IOMMUFD_PAGE_RESP_SUCCESS'] } }, { expect: { ok: true, ret: 8 }, note: 'struct iommu_hwpt_page_response with the cookie' });
}

/** test_cmd_create_access: the access is named by its fd. */
export function createAccess(p: ProgramBuilder, ioas: Json, name: string, flags: Json = 0): void {
  p.test('CREATE_ACCESS', ioas, 'create_access', { flags }, { expect: ok, bind: { [name]: 'out.create_access.out_access_fd' } });
}

export function accessPages(p: ProgramBuilder, access: string, iova: Json, length: number, user: Json, bind?: string, expect: StepExpect = ok): void {
  p.test('ACCESS_PAGES', access, 'access_pages', { iova, length: String(length), uptr: user }, { expect, bind: bind && expect.ok ? { [bind]: 'out.access_pages.out_access_pages_id' } : undefined });
}

export function destroyAccessPages(p: ProgramBuilder, access: string, pages: Json, expect: StepExpect = ok): void {
  p.test('DESTROY_ACCESS_PAGES', access, 'destroy_access_pages', { access_pages_id: pages }, { expect });
}

/** A recognisable byte pattern for the selftests' random buffer contents. */
export function pattern(length: number, seed: number): string {
  let h = '';
  for (let i = 0; i < length; i++) h += (((i * 7 + seed * 13) ^ (i >> 8)) & 0xff).toString(16).padStart(2, '0');
  return h;
}

/** check_access_rw, sampled: reads through the access compare with the buffer
 * (filled with a pattern first), writes land in it; then one whole-buffer read. */
export function checkAccessRw(p: ProgramBuilder, access: string, iova: number | string, defFlags: string | number, seed: number): void {
  const base = BigInt(iova);
  accessRwSamples(p, access, (off) => hex(base + BigInt(off)), defFlags, seed, [[-50, 1], [-50, 31], [-1, 2], [-3, 8], [0, 31], [49, 17]]);
}

/** The generator's copy of the buffer contents, so each read knows what the earlier writes left. */
function accessRwSamples(p: ProgramBuilder, access: string, iovaAt: (offset: number) => Json, defFlags: string | number, seed: number, samples: readonly (readonly [number, number])[]): void {
  const fill = pattern(BUFFER_SIZE, seed);
  const model = Buffer.from(fill, 'hex');
  const hexAt = (off: number, len: number): string => model.subarray(off, off + len).toString('hex');
  p.step('mem_write', { buffer: '$buf.buffer', offset: 0, data: { hex: fill } });
  p.test('ACCESS_RW', access, 'access_rw', { iova: iovaAt(0), length: String(BUFFER_SIZE), uptr: { room: BUFFER_SIZE }, flags: defFlags }, { expect: { ok: true, buffers: { 'access_rw.uptr': { hex: fill } } } });
  for (const [delta, length] of samples) {
    const off = PAGE_SIZE + delta;
    p.test('ACCESS_RW', access, 'access_rw', { iova: iovaAt(off), length: String(length), uptr: { room: length }, flags: defFlags }, { expect: { ok: true, buffers: { 'access_rw.uptr': { hex: hexAt(off, length) } } } });
    const data = pattern(length, seed + off + 1);
    const flags = defFlags === 0 ? 'MOCK_ACCESS_RW_WRITE' : `${defFlags}|MOCK_ACCESS_RW_WRITE`;
    p.test('ACCESS_RW', access, 'access_rw', { iova: iovaAt(off), length: String(length), uptr: { data: { hex: data } }, flags }, { expect: ok });
    Buffer.from(data, 'hex').copy(model, off);
    p.step('mem_read', { buffer: '$buf.buffer', offset: off, length }, { expect: { result: { data: { hex: data } } } });
  }
}

export const IOAS_TESTS: readonly TestDef[] = [
  ...ioasTest('ioas_auto_destroy', 'The fixture alone: everything is destroyed with the fd.', () => {}),
  ...ioasTest('ioas_destroy', 'An IOAS with a device attached through a HWPT cannot be destroyed (EBUSY); without one it can.', (p, self) => {
    p.destroy('$ioas', self.hasDomain ? err('EBUSY') : ok);
  }),
  ...ioasTest('hwpt_attach', 'A mock device can attach directly to a HWPT; without a domain there is no HWPT (ENOENT for id 0).', (p, self) => {
    if (self.hasDomain) p.mockDomain('$hwpt', 'direct_');
    else p.mockDomain(0, 'direct_', err('ENOENT'));
  }),
  ...ioasTest('ioas_area_destroy', 'Mapping an area does not change whether the IOAS can be destroyed.', (p, self) => {
    p.mapFixed('$ioas', va('buf'), PAGE_SIZE, hex(self.baseIova));
    p.destroy('$ioas', self.hasDomain ? err('EBUSY') : ok);
  }),
  ...ioasTest('ioas_area_auto_destroy', 'Ten fixed mappings, freed with the fd.', (p, self) => {
    for (let i = 0; i < 10; i++) p.mapFixed('$ioas', va('buf'), PAGE_SIZE, hex(self.baseIova + i * PAGE_SIZE));
  }),
  ...ioasTest('get_hw_info', 'IOMMU_GET_HW_INFO on a mock device: zero-size, exact, larger and smaller buffers; a wrong data_type is EOPNOTSUPP; no device is ENOENT.', (p, self) => {
    const info = (dev: Json, dataType: Json, len: number, expect: StepExpect, out?: { [k: string]: Json }): void => {
      const fields: { [k: string]: Json } = { dev_id: dev, data_len: len, data_uptr: len ? { room: len } : '0' };
      if (dataType !== 'IOMMU_HW_INFO_TYPE_DEFAULT') {
        fields['flags'] = 'IOMMU_HW_INFO_FLAG_INPUT_TYPE';
        fields['in_data_type'] = dataType;
      }
      p.ioctl('IOMMU_GET_HW_INFO', fields, { expect: out ? { ...expect, out } : expect });
    };
    if (!self.hasDomain) {
      info(0, 'IOMMU_HW_INFO_TYPE_DEFAULT', 8, err('ENOENT'));
      info(0, 'IOMMU_HW_INFO_TYPE_DEFAULT', 16, err('ENOENT'));
      return;
    }
    info('$idev', 'IOMMU_HW_INFO_TYPE_DEFAULT', 0, ok, { out_data_type: 'IOMMU_HW_INFO_TYPE_SELFTEST' });
    const regval = { u32s: [0, 'IOMMU_HW_INFO_SELFTEST_REGVAL'] };
    info('$idev', 'IOMMU_HW_INFO_TYPE_DEFAULT', 8, { ok: true, buffers: { data_uptr: regval } }, { out_data_type: 'IOMMU_HW_INFO_TYPE_SELFTEST', data_len: 8 });
    if (p.profile === '7.3') {
      info('$idev', '0xfeedbef0', 8, err('EOPNOTSUPP'));
      info('$idev', 'IOMMU_HW_INFO_TYPE_SELFTEST', 8, { ok: true, buffers: { data_uptr: regval } }, { data_len: 8 });
    }
    // A larger buffer: the tail is zeroed; a smaller one gets what fits. data_len
    // always comes back as the kernel's length (iommufd_get_hw_info).
    info('$idev', 'IOMMU_HW_INFO_TYPE_DEFAULT', 16, { ok: true, buffers: { data_uptr: { u32s: [0, 'IOMMU_HW_INFO_SELFTEST_REGVAL', 0, 0] } } }, { data_len: 8 });
    info('$idev', 'IOMMU_HW_INFO_TYPE_DEFAULT', 4, { ok: true, buffers: { data_uptr: { u32s: [0] } } }, { data_len: 8 });
    p.ioctl('IOMMU_GET_HW_INFO', { dev_id: '$idev' }, { expect: { ok: true, out: { out_max_pasid_log2: 0 } } });
    if (self.variant.pasidCapable && p.profile === '7.3') p.ioctl('IOMMU_GET_HW_INFO', { dev_id: '$pasid_idev' }, { expect: { ok: true, out: { out_max_pasid_log2: 'MOCK_PASID_WIDTH' } } });
  }),
  ...ioasTest('area', 'Unmap of nothing is ENOENT; page maps and unmaps; splitting an area is ENOENT; overlapping maps are EEXIST; unmap-all works, also when empty.', (p, self) => {
    const b = self.baseIova;
    for (let i = 0; i < 10; i++) p.unmap('$ioas', hex(i * PAGE_SIZE), PAGE_SIZE, err('ENOENT'));
    for (let i = 0; i < 10; i++) p.mapFixed('$ioas', va('buf'), PAGE_SIZE, hex(b + i * PAGE_SIZE));
    for (let i = 0; i < 10; i++) p.unmap('$ioas', hex(b + i * PAGE_SIZE), PAGE_SIZE);
    p.mapFixed('$ioas', va('buf'), PAGE_SIZE * 2, hex(b + 16 * PAGE_SIZE));
    p.unmap('$ioas', hex(b + 16 * PAGE_SIZE), PAGE_SIZE, err('ENOENT'));
    p.unmap('$ioas', hex(b + 17 * PAGE_SIZE), PAGE_SIZE, err('ENOENT'));
    for (const [len, at] of [[2, 16], [1, 16], [1, 17], [2, 15], [3, 15]] as const) {
      p.mapFixed('$ioas', va('buf'), PAGE_SIZE * len, hex(b + at * PAGE_SIZE), err('EEXIST'));
    }
    p.unmap('$ioas', '0', U64_MAX);
    p.unmap('$ioas', '0', U64_MAX);
  }),
  ...ioasTest('unmap_fully_contained_areas', 'Unmap of a range that cuts an area is ENOENT; one covering whole areas unmaps exactly them.', (p, self) => {
    const b = self.baseIova + 4 * PAGE_SIZE;
    for (let i = 0; i < 4; i++) p.mapFixed('$ioas', va('buf'), 8 * PAGE_SIZE, hex(b + i * 16 * PAGE_SIZE));
    p.unmap('$ioas', hex(b - 4 * PAGE_SIZE), 8 * PAGE_SIZE, err('ENOENT'));
    p.unmap('$ioas', hex(b + 3 * 16 * PAGE_SIZE + 8 * PAGE_SIZE - 4 * PAGE_SIZE), 8 * PAGE_SIZE, err('ENOENT'));
    p.unmap('$ioas', hex(b - 4 * PAGE_SIZE), 3 * 16 * PAGE_SIZE + 8 * PAGE_SIZE + 4 * PAGE_SIZE, ok, String(32 * PAGE_SIZE));
  }),
  ...ioasTest('area_auto_iova', 'Automatic IOVAs: aligned to the length, avoiding reserved ranges, inside allowed ranges; an allowed range over a reserved one is EADDRINUSE.', (p, self) => {
    for (let i = 0; i < 10; i++) p.map('$ioas', va('buf'), PAGE_SIZE, { bindIova: `iova${i}`, outIova: autoIova(PAGE_SIZE) });
    for (let i = 0; i < 10; i++) p.unmap('$ioas', `$iova${i}`, PAGE_SIZE);
    for (let i = 0; i < 10; i++) {
      const length = PAGE_SIZE * (i + 1);
      p.map('$ioas', self.hasDomain ? va('buf') : hex(2 ** 31), length, { bindIova: `iova${i}`, outIova: autoIova(length) });
    }
    for (let i = 0; i < 10; i++) p.unmap('$ioas', `$iova${i}`, PAGE_SIZE * (i + 1));
    const rs = PAGE_SIZE * 4;
    const rl = PAGE_SIZE * 100;
    addReserved(p, rs, rl);
    for (let i = 0; i < 10; i++) {
      const length = PAGE_SIZE * (i + 1);
      p.map('$ioas', va('buf'), length, { bindIova: `iova${i}`, outIova: { all: [autoIova(length), { not: { range: [hex(rs + 1), hex(rs + rl - 1)] } }] } });
    }
    for (let i = 0; i < 10; i++) p.unmap('$ioas', `$iova${i}`, PAGE_SIZE * (i + 1));
    allowIovas(p, [[PAGE_SIZE, PAGE_SIZE * 600]], err('EADDRINUSE'));
    const [start, last] = self.hasDomain ? [MOCK_APERTURE_START + PAGE_SIZE, MOCK_APERTURE_START + PAGE_SIZE * 600 - 1] : [PAGE_SIZE * 200, PAGE_SIZE * 600 - 1];
    allowIovas(p, [[start, last]], ok);
    for (let i = 0; i < 10; i++) {
      const length = PAGE_SIZE * (i + 1);
      p.map('$ioas', va('buf'), length, { bindIova: `iova${i}`, outIova: autoIova(length, start, last + 1 - length) });
    }
    for (let i = 0; i < 10; i++) p.unmap('$ioas', `$iova${i}`, PAGE_SIZE * (i + 1));
  }),
  ...ioasTest(
    'reserved_overflow',
    'A reserved range whose end overflows leaves no room: an automatic map is ENOSPC (syzbot report).',
    (p) => {
      addReserved(p, 6, '0xffffffffffff8001');
      p.map('$ioas', va('buf'), 0x5000, { expect: err('ENOSPC') });
    },
    { kernels: ['7.3'] },
  ),
  ...ioasTest('area_allowed', 'A reserved range inside an allowed one is EADDRINUSE, and an allowed range over a reserved one too.', (p, self) => {
    const start = self.baseIova;
    allowIovas(p, [[start, start + PAGE_SIZE * 600]], ok);
    addReserved(p, start + PAGE_SIZE, PAGE_SIZE, err('EADDRINUSE'));
    allowIovas(p, [], ok);
    addReserved(p, start + PAGE_SIZE, PAGE_SIZE, ok);
    allowIovas(p, [[start, start + PAGE_SIZE * 600]], err('EADDRINUSE'));
  }),
  ...ioasTest('copy_area', 'IOMMU_IOAS_COPY inside one IOAS and into another.', (p, self) => {
    p.mapFixed('$ioas', va('buf'), PAGE_SIZE, hex(self.baseIova));
    const copy = (dst: string, dstIova: number): void => {
      p.ioctl(
        'IOMMU_IOAS_COPY',
        { flags: 'IOMMU_IOAS_MAP_FIXED_IOVA|IOMMU_IOAS_MAP_WRITEABLE', dst_ioas_id: dst, src_ioas_id: '$ioas', length: String(PAGE_SIZE), src_iova: hex(self.baseIova), dst_iova: hex(dstIova) },
        { expect: ok },
      );
    };
    copy('$ioas', self.baseIova + PAGE_SIZE);
    p.ioasAlloc('dst');
    copy('$dst', 0);
  }),
  ...ioasTest('iova_ranges', 'IOMMU_IOAS_IOVA_RANGES: the aperture (or everything) and the alignment; EMSGSIZE with the needed count; a reserved range splits it.', (p, self) => {
    const room = 64;
    const ranges = (num: number, expect: StepExpect): void => {
      p.ioctl('IOMMU_IOAS_IOVA_RANGES', { ioas_id: '$ioas', num_iovas: num, allowed_iovas: { room } }, { expect });
    };
    const words = (rs: readonly (readonly [number | string, number | string])[]): Json => {
      const w: Json[] = rs.flatMap(([s, l]) => [typeof s === 'number' ? hex(s) : s, typeof l === 'number' ? hex(l) : l]);
      while (w.length < room / 8) w.push(0);
      return { u64s: w };
    };
    if (self.hasDomain) {
      ranges(room / 16, { ok: true, out: { num_iovas: 1, out_iova_alignment: MOCK_PAGE_SIZE }, buffers: { allowed_iovas: words([[MOCK_APERTURE_START, MOCK_APERTURE_LAST]]) } });
    } else {
      ranges(room / 16, { ok: true, out: { num_iovas: 1, out_iova_alignment: 1 }, buffers: { allowed_iovas: words([[0, U64_MAX]]) } });
    }
    ranges(0, { errno: ['EMSGSIZE'], out: { num_iovas: 1 }, buffers: { allowed_iovas: words([]) } });
    addReserved(p, PAGE_SIZE, PAGE_SIZE);
    if (self.hasDomain) {
      ranges(room / 16, { ok: true, out: { num_iovas: 1 }, buffers: { allowed_iovas: words([[MOCK_APERTURE_START, MOCK_APERTURE_LAST]]) } });
    } else {
      ranges(room / 16, { ok: true, out: { num_iovas: 2 }, buffers: { allowed_iovas: words([[0, PAGE_SIZE - 1], [PAGE_SIZE * 2, U64_MAX]]) } });
    }
    // Buffer too small for two ranges: EMSGSIZE with the count, the first range filled.
    if (self.hasDomain) {
      ranges(1, { ok: true, out: { num_iovas: 1 }, buffers: { allowed_iovas: words([[MOCK_APERTURE_START, MOCK_APERTURE_LAST]]) } });
    } else {
      ranges(1, { errno: ['EMSGSIZE'], out: { num_iovas: 2 }, buffers: { allowed_iovas: words([[0, PAGE_SIZE - 1]]) } });
    }
  }),
  ...ioasTest(
    'alloc_hwpt_nested',
    'Nested HWPTs on a NEST_PARENT HWPT: every argument check of IOMMU_HWPT_ALLOC for nesting, IOMMU_HWPT_INVALIDATE of the mock IOTLB, replace, EBUSY while attached, an IOPF-capable nested HWPT with a fault queue.',
    (p, self) => {
      const data = selftestData(p);
      const len = selftestDataLen(p);
      const T = 'IOMMU_HWPT_DATA_SELFTEST';
      if (!self.hasDomain) {
        hwptAlloc(p, 0, '$ioas', 0, undefined, err('ENOENT'));
        hwptAllocNested(p, 0, 0, 0, undefined, T, data, len, err('ENOENT'));
        hwptAllocNested(p, 0, 0, 0, undefined, T, data, len, err('ENOENT'));
        p.mockDomainReplace(0, 0, err('ENOENT'));
        p.mockDomainReplace(0, 0, err('ENOENT'));
        return;
      }
      hwptAlloc(p, '$ioas', '$idev', 0, undefined, err('ENOENT'));
      hwptAlloc(p, '$idev', '$idev', 0, undefined, err('EINVAL'));
      hwptAlloc(p, '$idev', '$ioas', 'IOMMU_HWPT_ALLOC_NEST_PARENT|IOMMU_HWPT_FAULT_ID_VALID', undefined, err('EOPNOTSUPP'));
      hwptAlloc(p, '$idev', '$ioas', 'IOMMU_HWPT_ALLOC_NEST_PARENT', 'parent', ok);
      hwptAlloc(p, '$idev', '$ioas', 0, 'parent_not_work', ok);
      hwptAllocNested(p, '$idev', '$parent', 0, undefined, 'IOMMU_HWPT_DATA_NONE', data, len, err('EINVAL'));
      hwptAllocNested(p, '$idev', '$parent', 0, undefined, '0xdeae', data, len, err('EOPNOTSUPP'));
      hwptAllocNested(p, '$idev', '$parent', 0, undefined, T, data, 3, err('EINVAL'));
      hwptAllocNested(p, '$idev', '$parent', 0, undefined, T, '0', len, err('EFAULT'));
      hwptAllocNested(p, '$idev', '$parent', 'IOMMU_HWPT_ALLOC_NEST_PARENT', undefined, T, data, len, err('EOPNOTSUPP'));
      hwptAllocNested(p, '$idev', '$parent_not_work', 0, undefined, T, data, len, err('EINVAL'));
      p.ioctl('IOMMU_FAULT_QUEUE_ALLOC', {}, { expect: ok, bind: { fault: 'out.out_fault_id', fault_fd: 'out.out_fault_fd' } });
      hwptAllocNested(p, '$idev', '$parent', 0, 'nested0', T, data, len, ok);
      hwptAllocNested(p, '$idev', '$parent', 0, 'nested1', T, data, len, ok);
      hwptAllocNested(p, '$idev', '$parent', 'IOMMU_HWPT_FAULT_ID_VALID', undefined, T, data, len, err('ENOENT'), '0xffffffff');
      hwptAllocNested(p, '$idev', '$parent', 'IOMMU_HWPT_FAULT_ID_VALID', 'iopf_hwpt', T, data, len, ok, '$fault');
      for (const n of ['$nested0', '$nested1']) for (let i = 0; i < 4; i++) checkIotlb(p, n, i, 'IOMMU_TEST_IOTLB_DEFAULT');
      hwptAllocNested(p, '$idev', '$nested0', 0, undefined, T, data, len, err('EINVAL'));
      p.destroy('$parent', err('EBUSY'));
      const S = 'IOMMU_HWPT_INVALIDATE_DATA_SELFTEST';
      // 6.12 looks the id up as a nested HWPT (ENOENT for a paging one); 7.3 finds it and refuses it (EINVAL).
      invalidate(p, '$parent', [[0, 0]], S, 8, 1, err(p.profile === '6.12' ? 'ENOENT' : 'EINVAL'), 0);
      invalidate(p, '$nested0', [], S, 8, 0, ok, 0);
      invalidate(p, '$nested0', [[0, 0]], 'IOMMU_HWPT_INVALIDATE_DATA_SELFTEST_INVALID', 8, 1, err('EINVAL'), 0);
      invalidate(p, '$nested0', [[0, 0]], S, 9, 1, err('EINVAL'), 0);
      invalidate(p, '$nested0', [[0, 0]], S, 1, 1, err('EINVAL'), 0);
      invalidate(p, '$nested0', [[0, 0]], S, PAGE_SIZE + 1, 1, err('EINVAL'), 0);
      invalidate(p, '$nested0', [[0, 0]], S, 8, (1 << 19) + 1, err('EINVAL'), 0);
      invalidate(p, '$nested0', [['0xffffffff', 0]], S, 8, 1, err('EOPNOTSUPP'), 0);
      invalidate(p, '$nested0', null, S, 8, 1, err('EINVAL'), 0);
      invalidate(p, '$nested0', [[0, 0]], S, 0, 1, err('EINVAL'), 0);
      invalidate(p, '$nested0', [[0, 4]], S, 8, 1, err('EINVAL'), 0);
      invalidate(p, '$nested0', [[0, 0], ['0xffffffff', 1]], S, 8, 2, err('EOPNOTSUPP'), 1);
      checkIotlb(p, '$nested0', 0, 0);
      for (let i = 1; i < 4; i++) checkIotlb(p, '$nested0', i, 'IOMMU_TEST_IOTLB_DEFAULT');
      invalidate(p, '$nested0', [[0, 0], [0, 4]], S, 8, 2, err('EINVAL'), 1);
      checkIotlb(p, '$nested0', 0, 0);
      for (let i = 1; i < 4; i++) checkIotlb(p, '$nested0', i, 'IOMMU_TEST_IOTLB_DEFAULT');
      invalidate(p, '$nested0', [[0, 1]], S, 8, 1, ok, 1);
      checkIotlb(p, '$nested0', 0, 0);
      checkIotlb(p, '$nested0', 1, 0);
      checkIotlb(p, '$nested0', 2, 'IOMMU_TEST_IOTLB_DEFAULT');
      checkIotlb(p, '$nested0', 3, 'IOMMU_TEST_IOTLB_DEFAULT');
      invalidate(p, '$nested0', [[0, 2], [0, 3]], S, 8, 2, ok, 2);
      for (let i = 0; i < 4; i++) checkIotlb(p, '$nested0', i, 0);
      invalidate(p, '$nested1', [['IOMMU_TEST_INVALIDATE_FLAG_ALL', 0]], S, 8, 1, ok, 1);
      for (let i = 0; i < 4; i++) checkIotlb(p, '$nested1', i, 0);
      p.mockDomainReplace('$stdev', '$nested0');
      p.destroy('$nested0', err('EBUSY'));
      p.mockDomainReplace('$stdev', '$nested1');
      p.destroy('$nested1', err('EBUSY'));
      p.destroy('$nested0');
      p.mockDomainReplace('$stdev', '$iopf_hwpt');
      p.destroy('$iopf_hwpt', err('EBUSY'));
      triggerIopf(p, '$idev', 1, '$fault_fd');
      p.mockDomainReplace('$stdev', '$parent');
      p.destroy('$nested1');
      p.destroy('$iopf_hwpt');
      p.mockDomainReplace('$stdev', '$ioas');
      p.destroy('$parent');
      p.destroy('$parent_not_work');
    },
    {
      requires: {
        commands: ['IOMMU_HWPT_INVALIDATE', 'IOMMU_FAULT_QUEUE_ALLOC'],
        testOps: ['IOMMU_TEST_OP_MD_CHECK_IOTLB', 'IOMMU_TEST_OP_TRIGGER_IOPF'],
        features: ['IOMMU_HWPT_ALLOC_NEST_PARENT', 'IOMMU_HWPT_DATA_SELFTEST', 'IOMMU_HWPT_INVALIDATE_DATA_SELFTEST', 'IOMMU_HWPT_FAULT_ID_VALID'],
      },
    },
  ),
  ...ioasTest('access_domain_destory', 'An access pins pages across a huge page boundary; destroying the device (and its domain) first then unpinning works.', (p, self) => {
    const size = 2 * 2 * 1024 * 1024;
    p.memAlloc('hbuf', size);
    p.mapFixed('$ioas', va('hbuf'), size, hex(self.baseIova));
    createAccess(p, '$ioas', 'access', 'MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES');
    accessPages(p, '$access', hex(self.baseIova + PAGE_SIZE), PAGE_SIZE, va('hbuf', PAGE_SIZE), 'pages');
    if (self.hasDomain) p.destroy('$stdev');
    destroyAccessPages(p, '$access', '$pages');
    p.close('$access');
  }),
  ...ioasTest('access_pin', 'Access pins: single and double users, adding a domain while pinned copies the pinned pages into it (MD_CHECK_MAP).', (p) => {
    createAccess(p, '$ioas', 'access', 'MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES');
    for (const npages of [1, 2, 15]) {
      const length = npages * PAGE_SIZE;
      const A = hex(MOCK_APERTURE_START);
      p.mapFixed('$ioas', va('buf'), BUFFER_SIZE, A);
      accessPages(p, '$access', A, length, va('buf'), 'pages');
      destroyAccessPages(p, '$access', '$pages');
      accessPages(p, '$access', A, length, va('buf'), 'pages1');
      accessPages(p, '$access', A, length, va('buf'), 'pages2');
      destroyAccessPages(p, '$access', '$pages2');
      destroyAccessPages(p, '$access', '$pages1');
      accessPages(p, '$access', A, length, va('buf'), 'pages');
      p.mockDomain('$ioas', 'm_');
      p.checkMap('$m_hwpt', A, BUFFER_SIZE, va('buf'));
      p.destroy('$m_stdev');
      destroyAccessPages(p, '$access', '$pages');
      p.unmap('$ioas', A, BUFFER_SIZE);
    }
    p.close('$access');
  }),
  ...ioasTest('access_pin_unmap', 'Unmapping pinned pages makes the kernel unpin them: the access item is gone (ENOENT).', (p) => {
    createAccess(p, '$ioas', 'access', 'MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES');
    p.mapFixed('$ioas', va('buf'), BUFFER_SIZE, hex(MOCK_APERTURE_START));
    accessPages(p, '$access', hex(MOCK_APERTURE_START), BUFFER_SIZE, va('buf'), 'pages');
    p.unmap('$ioas', hex(MOCK_APERTURE_START), BUFFER_SIZE);
    destroyAccessPages(p, '$access', '$pages', err('ENOENT'));
  }),
  ...ioasTest('access_rw', 'IOMMU_TEST_OP_ACCESS_RW reads and writes through an access, fast and slow path (sampled offsets of check_access_rw).', (p) => {
    createAccess(p, '$ioas', 'access');
    p.map('$ioas', va('buf'), BUFFER_SIZE, { bindIova: 'iova' });
    checkAccessRwAt(p, '$iova', 0, 1);
    checkAccessRwAt(p, '$iova', 'MOCK_ACCESS_RW_SLOW_PATH', 2);
    p.unmap('$ioas', '$iova', BUFFER_SIZE);
    p.close('$access');
  }),
  ...ioasTest('access_rw_unaligned', 'ACCESS_RW through a mapping at an IOVA that is not page aligned.', (p, self) => {
    createAccess(p, '$ioas', 'access');
    const iova = self.baseIova + MOCK_PAGE_SIZE;
    p.mapFixed('$ioas', va('buf'), BUFFER_SIZE, hex(iova));
    checkAccessRw(p, '$access', iova, 0, 3);
    p.unmap('$ioas', hex(iova), BUFFER_SIZE);
    p.close('$access');
  }),
  ...ioasTest('ioas_option_huge_pages', 'IOMMU_OPTION HUGE_PAGES on an IOAS: defaults to 1, set 0 and read back, 2 is EINVAL.', (p) => {
    const opt = (op: string, val64: string, expect: StepExpect): void => {
      p.ioctl('IOMMU_OPTION', { option_id: 'IOMMU_OPTION_HUGE_PAGES', op, val64, object_id: '$ioas' }, { expect });
    };
    opt('IOMMU_OPTION_OP_GET', '3', { ok: true, out: { val64: 1 } });
    opt('IOMMU_OPTION_OP_SET', '0', ok);
    opt('IOMMU_OPTION_OP_GET', '3', { ok: true, out: { val64: 0 } });
    opt('IOMMU_OPTION_OP_SET', '2', err('EINVAL'));
    opt('IOMMU_OPTION_OP_SET', '1', ok);
  }),
  ...ioasTest('ioas_iova_alloc', 'Automatic IOVA for lengths around the mock page size: with a domain, a length not a multiple of MOCK_PAGE_SIZE is EINVAL (sampled lengths of the sweep).', (p, self) => {
    for (const length of [1, 2, 511, 2047, 2048, 2049, 4095, 4096, 6143, 6144, 8191]) {
      if (self.hasDomain && length % MOCK_PAGE_SIZE) {
        p.map('$ioas', va('buf'), length, { expect: err('EINVAL') });
      } else {
        p.map('$ioas', va('buf'), length, { bindIova: 'iova' });
        p.unmap('$ioas', '$iova', length);
      }
    }
  }),
  ...ioasTest('ioas_align_change', 'HUGE_PAGES=0 (PAGE_SIZE alignment) is accepted when the maps are aligned, rejects a misaligned map, and cannot be set while a misaligned map exists (EADDRINUSE).', (p, self) => {
    if (self.hasDomain) return;
    const opt = (val64: string, expect: StepExpect): void => {
      p.ioctl('IOMMU_OPTION', { option_id: 'IOMMU_OPTION_HUGE_PAGES', op: 'IOMMU_OPTION_OP_SET', val64, object_id: '$ioas' }, { expect });
    };
    p.mapFixed('$ioas', va('buf'), PAGE_SIZE, hex(MOCK_APERTURE_START));
    opt('0', ok);
    p.mapFixed('$ioas', va('buf', MOCK_PAGE_SIZE), PAGE_SIZE, hex(MOCK_APERTURE_START + PAGE_SIZE), err('EINVAL'));
    opt('0', ok);
    opt('1', ok);
    p.mapFixed('$ioas', va('buf', MOCK_PAGE_SIZE), PAGE_SIZE, hex(MOCK_APERTURE_START + PAGE_SIZE));
    opt('0', err('EADDRINUSE'));
    p.unmap('$ioas', hex(MOCK_APERTURE_START + PAGE_SIZE), PAGE_SIZE);
    p.unmap('$ioas', hex(MOCK_APERTURE_START), PAGE_SIZE);
  }),
  ...ioasTest('copy_sweep', 'IOMMU_IOAS_COPY of MOCK_PAGE_SIZE from source IOVAs sweeping across a mapping in steps of 511: ENOENT outside it.', (p, self) => {
    p.ioasAlloc('dst');
    const last = MOCK_APERTURE_START + BUFFER_SIZE - (self.hasDomain ? 1 : 2);
    p.mapFixed('$ioas', va('buf'), last - MOCK_APERTURE_START + 1, hex(MOCK_APERTURE_START));
    let k = 0;
    for (let iova = MOCK_APERTURE_START - PAGE_SIZE; iova <= last; iova += 511) {
      // The sweep has ~136 points; keep every fourth and all near the edges.
      const edge = iova < MOCK_APERTURE_START + 1024 || iova + MOCK_PAGE_SIZE - 1 > last - 1024;
      if (!edge && k++ % 4 !== 0) continue;
      const inside = !(iova < MOCK_APERTURE_START || iova + MOCK_PAGE_SIZE - 1 > last);
      p.ioctl(
        'IOMMU_IOAS_COPY',
        { flags: 'IOMMU_IOAS_MAP_FIXED_IOVA|IOMMU_IOAS_MAP_WRITEABLE', dst_ioas_id: '$dst', src_ioas_id: '$ioas', length: String(MOCK_PAGE_SIZE), dst_iova: hex(MOCK_APERTURE_START), src_iova: hex(iova) },
        { expect: inside ? ok : err('ENOENT') },
      );
      if (inside) p.unmap('$dst', hex(MOCK_APERTURE_START), MOCK_PAGE_SIZE);
    }
    p.destroy('$dst');
  }),
  ...ioasTest(
    'dmabuf_simple',
    'IOMMU_IOAS_MAP_FILE of a mock dma-buf: zero length, start past the end and length past the end are EINVAL; the whole buffer maps.',
    (p) => {
      const size = PAGE_SIZE * 4;
      p.test('DMABUF_GET', 0, 'dmabuf_get', { length: size, open_flags: 0x80000 /* O_CLOEXEC */ }, { expect: { ok: true, ret: { range: [1, 65535] } }, bind: { dfd: 'ret' }, note: 'a new dma-buf fd (the process has 0-2 open)' });
      mapFile(p, '$dfd', 0, 0, err('EINVAL'));
      mapFile(p, '$dfd', size, size, err('EINVAL'));
      mapFile(p, '$dfd', 0, size + 1, err('EINVAL'));
      mapFile(p, '$dfd', 0, size, ok);
      p.close('$dfd');
    },
    { kernels: ['7.3'] },
  ),
  ...ioasTest(
    'dmabuf_revoke',
    'A revoked dma-buf cannot be mapped (ENODEV); after un-revoking it maps again, also at the old IOVA.',
    (p, self) => {
      const size = PAGE_SIZE * 4;
      p.test('DMABUF_GET', 0, 'dmabuf_get', { length: size, open_flags: 0x80000 /* O_CLOEXEC */ }, { expect: { ok: true, ret: { range: [1, 65535] } }, bind: { dfd: 'ret' }, note: 'a new dma-buf fd (the process has 0-2 open)' });
      mapFile(p, '$dfd', 0, size, ok, 'iova');
      p.test('DMABUF_REVOKE', 0, 'dmabuf_revoke', { dmabuf_fd: '$dfd', revoked: 1 }, { expect: ok });
      if (self.hasDomain) p.ioctl('IOMMU_HWPT_ALLOC', { dev_id: '$idev', pt_id: '$ioas' }, { expect: ok });
      mapFile(p, '$dfd', 0, size, err('ENODEV'));
      p.test('DMABUF_REVOKE', 0, 'dmabuf_revoke', { dmabuf_fd: '$dfd', revoked: 0 }, { expect: ok });
      mapFile(p, '$dfd', 0, size, ok, 'iova2');
      p.unmap('$ioas', '$iova', size);
      p.ioctl('IOMMU_IOAS_MAP_FILE', { ioas_id: '$ioas', flags: 'IOMMU_IOAS_MAP_FIXED_IOVA|IOMMU_IOAS_MAP_WRITEABLE|IOMMU_IOAS_MAP_READABLE', fd: '$dfd', start: '0', length: String(size), iova: '$iova' }, { expect: ok });
      p.close('$dfd');
    },
    { kernels: ['7.3'] },
  ),
];

function checkAccessRwAt(p: ProgramBuilder, iovaRef: string, flags: string | number, seed: number): void {
  // The IOVA is the implementation's choice: offsets are relative to it.
  const name = iovaRef.slice(1);
  accessRwSamples(p, '$access', (off) => (off === 0 ? iovaRef : { $: name, add: off }), flags, seed, [[-50, 1], [-50, 31], [-1, 2], [49, 17]]);
}

function mapFile(p: ProgramBuilder, fd: string, start: number, length: number, expect: StepExpect, bindIova?: string): void {
  p.ioctl(
    'IOMMU_IOAS_MAP_FILE',
    { ioas_id: '$ioas', flags: 'IOMMU_IOAS_MAP_WRITEABLE|IOMMU_IOAS_MAP_READABLE', fd, start: String(start), length: String(length) },
    { expect, bind: bindIova && expect.ok ? { [bindIova]: 'out.iova' } : undefined },
  );
}
