/**
 * Ports of FIXTURE(iommufd_dirty_tracking) × domain_dirty{8k,16k,64k,128k,320k}
 * (tools/testing/selftests/iommu/iommufd.c). The 64M/128M and *_huge variants
 * are not ported (64-128 MiB buffers per program, MAP_HUGETLB).
 * The fixture differs between the profiles: 7.3 turns IOMMU_OPTION_HUGE_PAGES
 * off and allocates the HWPT with IOMMU_HWPT_DATA_SELFTEST (MOCK_IOMMUPT_DEFAULT),
 * so dirty bits come in PAGE_SIZE units; 6.12 reports MOCK_PAGE_SIZE units.
 */
import type { Profile } from '../../../spec/contract/types.ts';
import type { Json } from '../types.ts';
import { err, hex, MOCK_APERTURE_START, MOCK_PAGE_SIZE, ok, PAGE_SIZE, va, type ProgramBuilder, type TestDef } from './dsl.ts';

const FILE = 'tools/testing/selftests/iommu/iommufd.c';
const BOTH: readonly Profile[] = ['6.12', '7.3'];

const VARIANTS = [
  { name: 'domain_dirty8k', size: 8 * 1024 },
  { name: 'domain_dirty16k', size: 16 * 1024 },
  { name: 'domain_dirty64k', size: 64 * 1024 },
  { name: 'domain_dirty128k', size: 128 * 1024 },
  { name: 'domain_dirty320k', size: 320 * 1024 },
] as const;

type Variant = (typeof VARIANTS)[number];

function setup(p: ProgramBuilder, v: Variant): void {
  p.memAlloc();
  p.open();
  p.memAlloc('dbuf', v.size);
  // posix_memalign(bitmap_size + PAGE_SIZE) in the selftest; user memory comes in whole pages (ADAPTER.md §3.5).
  p.memAlloc('bitmap', Math.ceil((Math.ceil(v.size / MOCK_PAGE_SIZE / 8) + PAGE_SIZE) / PAGE_SIZE) * PAGE_SIZE);
  p.ioasAlloc('ioas');
  if (p.profile === '7.3') p.ioctl('IOMMU_OPTION', { option_id: 'IOMMU_OPTION_HUGE_PAGES', op: 'IOMMU_OPTION_OP_SET', val64: '0', object_id: '$ioas' }, { expect: ok });
  p.mockDomain('$ioas');
}

function dirtyTest(test: string, description: string, body: (p: ProgramBuilder, v: Variant) => void, kernels: readonly Profile[] = BOTH, features: readonly string[] = []): TestDef[] {
  return VARIANTS.map((v) => ({
    name: `iommufd_dirty_tracking.${v.name}.${test}`,
    description,
    source: { file: FILE, fixture: 'iommufd_dirty_tracking', variant: v.name, test, kernels },
    requires: {
      commands: ['IOMMU_HWPT_SET_DIRTY_TRACKING', 'IOMMU_HWPT_GET_DIRTY_BITMAP'],
      testOps: ['IOMMU_TEST_OP_DIRTY'],
      features: ['IOMMU_HWPT_ALLOC_DIRTY_TRACKING', ...features],
    },
    build: (p: ProgramBuilder) => {
      setup(p, v);
      body(p, v);
      p.teardown();
    },
  }));
}

function setDirtyTracking(p: ProgramBuilder, hwpt: Json, enabled: boolean): void {
  p.ioctl('IOMMU_HWPT_SET_DIRTY_TRACKING', { flags: enabled ? 'IOMMU_HWPT_DIRTY_TRACKING_ENABLE' : 0, hwpt_id: hwpt }, { expect: ok });
}

/** Bitmap bytes with bit i set where set(i). */
function bits(nbits: number, set: (i: number) => boolean): string {
  const bytes = new Uint8Array(Math.ceil(nbits / 8));
  for (let i = 0; i < nbits; i++) if (set(i)) bytes[i >> 3] = (bytes[i >> 3] as number) | (1 << (i & 7));
  return Buffer.from(bytes).toString('hex');
}

/** _test_mock_dirty_bitmaps with the bitmap at `offset` in the bitmap buffer. */
function mockDirtyBitmaps(p: ProgramBuilder, hwpt: Json, v: Variant, ptePageSize: number, offset: number, flags: Json): void {
  const nbits = v.size / MOCK_PAGE_SIZE;
  const npte = ptePageSize / MOCK_PAGE_SIZE;
  const pteset = 2 * npte;
  const nr = Math.floor(nbits / pteset) || 1;
  const bytes = Math.ceil(nbits / 8);
  const zero = bits(nbits, () => false);
  p.step('mem_write', { buffer: '$bitmap.buffer', offset, data: { hex: bits(nbits, (i) => i % pteset === 0) } });
  p.test('DIRTY', hwpt, 'dirty', { iova: hex(MOCK_APERTURE_START), length: String(v.size), page_size: String(MOCK_PAGE_SIZE), uptr: va('bitmap', offset) }, { expect: { ok: true, out: { 'dirty.out_nr_dirty': nr } } });
  const get = (): void => {
    p.step('mem_write', { buffer: '$bitmap.buffer', offset, data: { hex: zero } });
    p.ioctl('IOMMU_HWPT_GET_DIRTY_BITMAP', { hwpt_id: hwpt, flags, iova: hex(MOCK_APERTURE_START), length: String(v.size), page_size: String(MOCK_PAGE_SIZE), data: va('bitmap', offset) }, { expect: ok });
  };
  const noClear = flags !== 0;
  get();
  p.step('mem_read', { buffer: '$bitmap.buffer', offset, length: bytes }, { expect: { result: { data: { hex: bits(nbits, (i) => i % pteset < npte) } } } });
  get();
  p.step('mem_read', { buffer: '$bitmap.buffer', offset, length: bytes }, { expect: { result: { data: { hex: bits(nbits, (i) => noClear && i % pteset < npte) } } } });
}

function getDirtyBitmap(p: ProgramBuilder, v: Variant, flags: Json): void {
  let ioas = '$ioas';
  if (p.profile === '6.12') {
    p.ioasAlloc('dioas');
    ioas = '$dioas';
  }
  p.mapFixed(ioas, va('dbuf'), v.size, hex(MOCK_APERTURE_START));
  if (p.profile === '7.3') {
    p.ioctl('IOMMU_HWPT_ALLOC', { dev_id: '$idev', pt_id: ioas, flags: 'IOMMU_HWPT_ALLOC_DIRTY_TRACKING', data_type: 'IOMMU_HWPT_DATA_SELFTEST', data_len: 8, data_uptr: { data: { u32s: [0, 'MOCK_IOMMUPT_DEFAULT'] } } }, { expect: ok, bind: { dhwpt: 'out.out_hwpt_id' } });
  } else {
    p.ioctl('IOMMU_HWPT_ALLOC', { dev_id: '$idev', pt_id: ioas, flags: 'IOMMU_HWPT_ALLOC_DIRTY_TRACKING' }, { expect: ok, bind: { dhwpt: 'out.out_hwpt_id' } });
  }
  setDirtyTracking(p, '$dhwpt', true);
  const pte = p.profile === '7.3' ? PAGE_SIZE : MOCK_PAGE_SIZE;
  for (const offset of [0, MOCK_PAGE_SIZE, 0xff1]) mockDirtyBitmaps(p, '$dhwpt', v, pte, offset, flags);
  p.destroy('$dhwpt');
}

export const DIRTY_TESTS: readonly TestDef[] = [
  ...dirtyTest('enforce_dirty', 'A device that cannot track dirty pages cannot attach to a dirty-tracking HWPT (EINVAL), and cannot allocate one (EOPNOTSUPP).', (p) => {
    p.ioctl('IOMMU_HWPT_ALLOC', { dev_id: '$idev', pt_id: '$ioas', flags: 'IOMMU_HWPT_ALLOC_DIRTY_TRACKING' }, { expect: ok, bind: { dhwpt: 'out.out_hwpt_id' } });
    p.mockDomain('$dhwpt', 'x_');
    p.mockDomainFlags('$dhwpt', 'MOCK_FLAGS_DEVICE_NO_DIRTY', 'y_', err('EINVAL'));
    p.destroy('$x_stdev');
    p.destroy('$dhwpt');
    p.ioasAlloc('ioas2');
    p.mockDomainFlags('$ioas2', 'MOCK_FLAGS_DEVICE_NO_DIRTY', 'nd_');
    p.ioctl('IOMMU_HWPT_ALLOC', { dev_id: '$nd_idev', pt_id: '$ioas2', flags: 'IOMMU_HWPT_ALLOC_DIRTY_TRACKING' }, { expect: err('EOPNOTSUPP') });
    p.destroy('$nd_stdev');
  }),
  ...dirtyTest('set_dirty_tracking', 'IOMMU_HWPT_SET_DIRTY_TRACKING on and off on a dirty-tracking HWPT with a device.', (p) => {
    p.ioctl('IOMMU_HWPT_ALLOC', { dev_id: '$idev', pt_id: '$ioas', flags: 'IOMMU_HWPT_ALLOC_DIRTY_TRACKING' }, { expect: ok, bind: { dhwpt: 'out.out_hwpt_id' } });
    p.mockDomain('$dhwpt', 'x_');
    setDirtyTracking(p, '$dhwpt', true);
    setDirtyTracking(p, '$dhwpt', false);
    p.destroy('$x_stdev');
    p.destroy('$dhwpt');
  }),
  ...dirtyTest(
    'pasid_set_dirty_tracking',
    'Dirty tracking on a PASID-capable HWPT attached to a PASID; a device without dirty tracking cannot attach it to a PASID (EINVAL).',
    (p) => {
      p.ioctl('IOMMU_HWPT_ALLOC', { dev_id: '$idev', pt_id: '$ioas', flags: 'IOMMU_HWPT_ALLOC_PASID|IOMMU_HWPT_ALLOC_DIRTY_TRACKING' }, { expect: ok, bind: { dhwpt: 'out.out_hwpt_id' } });
      p.mockDomainFlags('$dhwpt', 'MOCK_FLAGS_DEVICE_PASID', 'x_');
      p.test('PASID_ATTACH', '$x_stdev', 'pasid_attach', { pasid: 100, pt_id: '$dhwpt' }, { expect: ok });
      setDirtyTracking(p, '$dhwpt', true);
      setDirtyTracking(p, '$dhwpt', false);
      p.test('PASID_DETACH', '$x_stdev', 'pasid_detach', { pasid: 100 }, { expect: ok });
      p.destroy('$x_stdev');
      p.ioasAlloc('ioas2');
      p.mockDomainFlags('$ioas2', 'MOCK_FLAGS_DEVICE_PASID|MOCK_FLAGS_DEVICE_NO_DIRTY', 'y_');
      p.test('PASID_ATTACH', '$y_stdev', 'pasid_attach', { pasid: 100, pt_id: '$dhwpt' }, { expect: err('EINVAL') });
      p.destroy('$y_stdev');
      p.destroy('$dhwpt');
    },
    ['7.3'],
    ['IOMMU_HWPT_ALLOC_PASID'],
  ),
  ...dirtyTest('device_dirty_capability', 'IOMMU_GET_HW_INFO reports IOMMU_HW_CAP_DIRTY_TRACKING for the mock device.', (p) => {
    p.ioctl('IOMMU_HWPT_ALLOC', { dev_id: '$idev', pt_id: '$ioas', flags: 0 }, { expect: ok, bind: { dhwpt: 'out.out_hwpt_id' } });
    p.mockDomain('$dhwpt', 'x_');
    p.ioctl('IOMMU_GET_HW_INFO', { dev_id: '$idev' }, { expect: { ok: true, out: { out_capabilities: { aligned: 1 } } }, bind: { caps: 'out.out_capabilities' } });
    p.ioctl('IOMMU_GET_HW_INFO', { dev_id: '$idev' }, { expect: { ok: true, out: { out_capabilities: { in: ['IOMMU_HW_CAP_DIRTY_TRACKING', '0x3', '0x5', '0x7', '0x9', '0xb', '0xd', '0xf'] } } }, note: 'the DIRTY_TRACKING bit is set' });
    p.destroy('$x_stdev');
    p.destroy('$dhwpt');
  }),
  ...dirtyTest('get_dirty_bitmap', 'Dirty bits set in the mock domain come back from IOMMU_HWPT_GET_DIRTY_BITMAP (aligned, PAGE_SIZE-unaligned and u64-unaligned bitmaps) and are cleared by the read.', (p, v) => getDirtyBitmap(p, v, 0)),
  ...dirtyTest('get_dirty_bitmap_no_clear', 'As get_dirty_bitmap with IOMMU_HWPT_GET_DIRTY_BITMAP_NO_CLEAR: a second read sees the same bits.', (p, v) => getDirtyBitmap(p, v, 'IOMMU_HWPT_GET_DIRTY_BITMAP_NO_CLEAR')),
];
