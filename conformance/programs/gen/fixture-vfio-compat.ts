/**
 * Ports of FIXTURE(vfio_compat_mock_domain) × {Ver1v2, Ver1v0}
 * (tools/testing/selftests/iommu/iommufd.c): the VFIO type1 container ABI
 * served by iommufd's compatibility layer (vfio_compat.c).
 */
import type { Profile } from '../../../spec/contract/types.ts';
import { BUFFER_SIZE, err, hex, MOCK_APERTURE_START, ok, PAGE_SIZE, va, type ProgramBuilder, type TestDef } from './dsl.ts';

const FILE = 'tools/testing/selftests/iommu/iommufd.c';
const BOTH: readonly Profile[] = ['6.12', '7.3'];
const HUGEPAGE_SIZE = 2 * 1024 * 1024;

const VARIANTS = [
  { name: 'Ver1v2', version: 'VFIO_TYPE1v2_IOMMU' },
  { name: 'Ver1v0', version: 'VFIO_TYPE1_IOMMU' },
] as const;

type Variant = (typeof VARIANTS)[number];

function compatTest(test: string, description: string, body: (p: ProgramBuilder, v: Variant) => void): TestDef[] {
  return VARIANTS.map((v) => ({
    name: `vfio_compat_mock_domain.${v.name.toLowerCase()}.${test}`,
    description,
    source: { file: FILE, fixture: 'vfio_compat_mock_domain', variant: v.name, test, kernels: BOTH },
    build: (p: ProgramBuilder) => {
      p.memAlloc();
      p.open();
      p.ioasAlloc('ioas');
      p.mockDomain('$ioas');
      p.ioctl('IOMMU_VFIO_IOAS', { op: 'IOMMU_VFIO_IOAS_SET', ioas_id: '$ioas' }, { expect: ok });
      p.ioctlArg('VFIO_SET_IOMMU', { kind: 'int', value: v.version }, { expect: ok });
      body(p, v);
      p.teardown();
    },
  }));
}

/** A fixed, scrambled order of n items (the selftest shuffles with rand()). */
function scrambled(n: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push((i * 7 + 3) % n);
  return out;
}

const RW = 'VFIO_DMA_MAP_FLAG_READ|VFIO_DMA_MAP_FLAG_WRITE';
const INFO_FLAGS = 'VFIO_IOMMU_INFO_PGSIZES|VFIO_IOMMU_INFO_CAPS';

export const VFIO_COMPAT_TESTS: readonly TestDef[] = [
  ...compatTest('simple_close', 'The fixture alone: an IOAS set as the compat IOAS with a type1 IOMMU.', () => {}),
  ...compatTest('option_huge_pages', 'Type1 (v1) turns off huge pages on the compat IOAS; type1v2 keeps them.', (p, v) => {
    p.ioctl('IOMMU_OPTION', { option_id: 'IOMMU_OPTION_HUGE_PAGES', op: 'IOMMU_OPTION_OP_GET', val64: '3', object_id: '$ioas' }, { expect: { ok: true, out: { val64: v.version === 'VFIO_TYPE1_IOMMU' ? 0 : 1 } } });
  }),
  ...compatTest('get_info', 'VFIO_IOMMU_GET_INFO: the pre-cap ABI, the size of the cap chain, and the chain itself.', (p) => {
    p.ioctl('VFIO_IOMMU_GET_INFO', { argsz: 16 }, { expect: { ok: true, out: { flags: INFO_FLAGS, iova_pgsizes: { not: 0 } } }, note: 'argsz = offsetof(cap_offset)' });
    p.ioctl('VFIO_IOMMU_GET_INFO', {}, { expect: { ok: true, out: { flags: INFO_FLAGS, cap_offset: 0, argsz: { not: { range: [0, 24] } } } }, bind: { need: 'out.argsz' } });
    p.ioctl('VFIO_IOMMU_GET_INFO', { argsz: '$need' }, { tail: { fill: 0, length: 232 }, expect: { ok: true, out: { flags: INFO_FLAGS, cap_offset: { range: [20, 24] } } } });
  }),
  ...compatTest('map', 'VFIO_IOMMU_MAP_DMA / UNMAP_DMA: map and unmap, unmap of nothing succeeds, UNMAP_FLAG_ALL needs iova and size 0, page-by-page maps unmapped in another order.', (p) => {
    const A = hex(MOCK_APERTURE_START);
    const map = (vaddr: ReturnType<typeof va>, size: number, iova: string): void => {
      p.ioctl('VFIO_IOMMU_MAP_DMA', { flags: RW, vaddr, size: String(size), iova }, { expect: ok });
    };
    map(va('buf'), BUFFER_SIZE, A);
    p.ioctl('VFIO_IOMMU_UNMAP_DMA', { size: String(BUFFER_SIZE), iova: A }, { expect: { ok: true, out: { size: BUFFER_SIZE } } });
    p.ioctl('VFIO_IOMMU_UNMAP_DMA', { size: String(BUFFER_SIZE), iova: A }, { expect: ok });
    map(va('buf'), BUFFER_SIZE, A);
    p.ioctl('VFIO_IOMMU_UNMAP_DMA', { flags: 'VFIO_DMA_UNMAP_FLAG_ALL', size: String(BUFFER_SIZE), iova: A }, { expect: err('EINVAL') });
    p.ioctl('VFIO_IOMMU_UNMAP_DMA', { flags: 'VFIO_DMA_UNMAP_FLAG_ALL', size: '0', iova: '0' }, { expect: { ok: true, out: { size: BUFFER_SIZE } } });
    const n = BUFFER_SIZE / PAGE_SIZE;
    for (let i = 0; i < n; i++) map(va('buf', i * PAGE_SIZE), PAGE_SIZE, hex(MOCK_APERTURE_START + i * PAGE_SIZE));
    for (const i of scrambled(n)) p.ioctl('VFIO_IOMMU_UNMAP_DMA', { size: String(PAGE_SIZE), iova: hex(MOCK_APERTURE_START + i * PAGE_SIZE) }, { expect: ok });
  }),
  ...compatTest('huge_map', 'A huge mapping cut in 16 pieces: type1 can unmap the pieces, type1v2 refuses to split (ENOENT).', (p, v) => {
    const size = HUGEPAGE_SIZE * 2;
    p.memAlloc('hbuf', size);
    p.ioctl('VFIO_IOMMU_MAP_DMA', { flags: RW, vaddr: va('hbuf'), size: String(size), iova: hex(MOCK_APERTURE_START) }, { expect: ok });
    const piece = size / 16;
    for (const i of scrambled(16)) {
      p.ioctl('VFIO_IOMMU_UNMAP_DMA', { size: String(piece), iova: hex(MOCK_APERTURE_START + i * piece) }, { expect: v.version === 'VFIO_TYPE1_IOMMU' ? ok : err('ENOENT') });
    }
  }),
];
