/**
 * Ports of FIXTURE(iommufd_mock_domain) × {one_domain, two_domains,
 * one_domain_hugepage, two_domains_hugepage} (tools/testing/selftests/iommu/
 * iommufd.c). The *_file variants map a memfd, which the adapter contract
 * cannot create: for them only replace and alloc_hwpt (which never touch it) are ported. The hugepage variants use a
 * hugepage-aligned buffer (mem_alloc hugeAligned) for MAP_HUGETLB.
 */
import type { Profile } from '../../../spec/contract/types.ts';
import type { Json } from '../types.ts';
import { BUFFER_SIZE, err, hex, MOCK_APERTURE_START, MOCK_PAGE_SIZE, ok, PAGE_SIZE, va, type ProgramBuilder, type TestDef } from './dsl.ts';
import { accessPages, createAccess, destroyAccessPages, devCheckCache } from './fixture-ioas.ts';

const FILE = 'tools/testing/selftests/iommu/iommufd.c';
const BOTH: readonly Profile[] = ['6.12', '7.3'];
const HUGEPAGE_SIZE = 2 * 1024 * 1024;

interface MockVariant {
  readonly name: string;
  readonly domains: number;
  readonly hugepages: boolean;
  /** The *_file variants: only the tests that never touch the memfd are ported for them. */
  readonly file?: boolean;
}

const VARIANTS: readonly MockVariant[] = [
  { name: 'one_domain', domains: 1, hugepages: false },
  { name: 'two_domains', domains: 2, hugepages: false },
  { name: 'one_domain_hugepage', domains: 1, hugepages: true },
  { name: 'two_domains_hugepage', domains: 2, hugepages: true },
  { name: 'one_domain_file', domains: 1, hugepages: false, file: true },
  { name: 'one_domain_file_hugepage', domains: 1, hugepages: true, file: true },
];

interface MockSelf {
  readonly v: MockVariant;
  readonly bufSize: number;
}

function setup(p: ProgramBuilder, v: MockVariant): MockSelf {
  p.memAlloc();
  p.open();
  p.ioasAlloc('ioas');
  for (let i = 0; i < v.domains; i++) {
    p.mockDomain('$ioas', `d${i}_`);
    if (p.profile === '7.3') for (let c = 0; c < 4; c++) devCheckCache(p, '$d0_idev', c, 'IOMMU_TEST_DEV_CACHE_DEFAULT');
  }
  return { v, bufSize: v.hugepages ? HUGEPAGE_SIZE * 2 : PAGE_SIZE * 8 };
}

/** check_mock_iova: every domain of the fixture maps the pages at that IOVA. */
function checkMockIova(p: ProgramBuilder, self: MockSelf, user: Json, iova: Json, length: number, extraHwpt?: string): void {
  p.checkMap('$d0_hwpt', iova, length, user);
  if (self.v.domains > 1) p.checkMap('$d1_hwpt', iova, length, user);
  else if (extraHwpt) p.checkMap(extraHwpt, iova, length, user);
}

function mockTest(test: string, description: string, body: (p: ProgramBuilder, self: MockSelf) => void, o: { usesFile: boolean } = { usesFile: true }): TestDef[] {
  return VARIANTS.filter((v) => !v.file || !o.usesFile).map((v) => ({
    name: `iommufd_mock_domain.${v.name}.${test}`,
    description,
    source: { file: FILE, fixture: 'iommufd_mock_domain', variant: v.name, test, kernels: BOTH },
    build: (p: ProgramBuilder) => {
      const self = setup(p, v);
      body(p, self);
      p.teardown();
    },
  }));
}

/** The (start, end) pairs of all_aligns, sampled: every start of the first
 * pages with short and long ends, as the C loops visit them. */
function alignSamples(self: MockSelf): [number, number][] {
  const size = self.bufSize;
  if (self.v.hugepages) {
    const step = size / 16;
    return [0, step, 7 * step, 15 * step].map((s) => [s, size]);
  }
  const out: [number, number][] = [];
  for (let start = 0; start < size; start += MOCK_PAGE_SIZE * 3) {
    for (const end of [start + MOCK_PAGE_SIZE, start + 2 * MOCK_PAGE_SIZE, start + 5 * MOCK_PAGE_SIZE, size - MOCK_PAGE_SIZE]) {
      if (end > start && end < size && !out.some(([s, e]) => s === start && e === end)) out.push([start, end]);
    }
  }
  return out;
}

const pageDown = (n: number): number => Math.floor(n / PAGE_SIZE) * PAGE_SIZE;

export const MOCK_DOMAIN_TESTS: readonly TestDef[] = [
  ...mockTest('basic', 'Map one page and see it in every mock domain; a map whose user range is partly or wholly unmapped is EFAULT.', (p, self) => {
    p.map('$ioas', va('buf'), PAGE_SIZE, { bindIova: 'iova' });
    checkMockIova(p, self, va('buf'), '$iova', PAGE_SIZE);
    p.memAlloc('mbuf', self.bufSize);
    p.step('mem_unmap', { buffer: '$mbuf.buffer', offset: self.bufSize / 2, length: self.bufSize / 2 });
    p.map('$ioas', va('mbuf'), self.bufSize, { expect: err('EFAULT') });
    p.step('mem_unmap', { buffer: '$mbuf.buffer', offset: 0, length: self.bufSize / 2 });
    p.map('$ioas', va('mbuf'), self.bufSize, { expect: err('EFAULT') });
  }),
  ...mockTest('all_aligns', 'Map (start, end) combinations of a buffer at MOCK_PAGE_SIZE granularity (sampled): each maps into every domain and pins exactly its pages once.', (p, self) => {
    p.memAlloc('mbuf', self.bufSize);
    p.checkRefs(va('mbuf'), self.bufSize, 0);
    for (const [start, end] of alignSamples(self)) {
      const length = end - start;
      p.map('$ioas', va('mbuf', start), length, { bindIova: 'iova' });
      checkMockIova(p, self, va('mbuf', start), '$iova', length);
      p.checkRefs(va('mbuf', pageDown(start)), pageDown(end) - pageDown(start), 1);
      p.unmap('$ioas', '$iova', length);
    }
    p.checkRefs(va('mbuf'), self.bufSize, 0);
  }),
  ...mockTest('all_aligns_copy', 'As all_aligns, adding and destroying a domain while each area exists: the new domain gets the area’s pages.', (p, self) => {
    p.memAlloc('mbuf', self.bufSize);
    p.checkRefs(va('mbuf'), self.bufSize, 0);
    for (const [start, end] of alignSamples(self)) {
      const length = end - start;
      p.map('$ioas', va('mbuf', start), length, { bindIova: 'iova' });
      p.mockDomain('$ioas', 'x_');
      checkMockIova(p, self, va('mbuf', start), '$iova', length, '$x_hwpt');
      p.checkRefs(va('mbuf', pageDown(start)), pageDown(end) - pageDown(start), 1);
      p.destroy('$x_stdev');
      p.unmap('$ioas', '$iova', length);
    }
    p.checkRefs(va('mbuf'), self.bufSize, 0);
  }),
  ...mockTest('user_copy', 'Pages pinned by an access in a domain-less IOAS are copied into an IOAS with domains; IOMMU_TEST_OP_ACCESS_REPLACE_IOAS moves the access to a new IOAS.', (p, self) => {
    const A = hex(MOCK_APERTURE_START);
    p.ioasAlloc('src');
    p.map('$src', va('buf'), BUFFER_SIZE, { bindIova: 'src_iova' });
    createAccess(p, '$src', 'access', 'MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES');
    accessPages(p, '$access', '$src_iova', BUFFER_SIZE, va('buf'), 'pages');
    const copy = (src: string, srcIova: string): void => {
      p.ioctl('IOMMU_IOAS_COPY', { flags: 'IOMMU_IOAS_MAP_FIXED_IOVA|IOMMU_IOAS_MAP_WRITEABLE', dst_ioas_id: '$ioas', src_ioas_id: src, length: String(BUFFER_SIZE), dst_iova: A, src_iova: srcIova }, { expect: ok });
    };
    copy('$src', '$src_iova');
    checkMockIova(p, self, va('buf'), A, BUFFER_SIZE);
    p.ioasAlloc('new_src');
    p.map('$new_src', va('buf'), BUFFER_SIZE, { bindIova: 'new_iova' });
    p.test('ACCESS_REPLACE_IOAS', '$access', 'access_replace_ioas', { ioas_id: '$new_src' }, { expect: ok });
    p.unmap('$ioas', A, BUFFER_SIZE);
    p.destroy('$src');
    accessPages(p, '$access', '$new_iova', BUFFER_SIZE, va('buf'), 'pages2');
    copy('$new_src', '$new_iova');
    checkMockIova(p, self, va('buf'), A, BUFFER_SIZE);
    destroyAccessPages(p, '$access', '$pages2');
    p.close('$access');
    p.destroy('$new_src');
  }),
  ...mockTest('replace', 'IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE between IOASes and HWPTs; replacing away from an automatic HWPT frees it (ENOENT after).', (p, self) => {
    p.ioasAlloc('other');
    p.mockDomainReplace('$d0_stdev', '$other');
    if (self.v.domains === 1) p.mockDomainReplace('$d0_stdev', '$d0_hwpt', err('ENOENT'));
    p.mockDomainReplace('$d0_stdev', '$other');
    if (self.v.domains >= 2) {
      p.mockDomainReplace('$d0_stdev', '$d1_hwpt');
      p.mockDomainReplace('$d0_stdev', '$d1_hwpt');
      p.mockDomainReplace('$d0_stdev', '$d0_hwpt');
    }
    p.mockDomainReplace('$d0_stdev', '$ioas');
    p.destroy('$other');
  }, { usesFile: false }),
  ...mockTest('alloc_hwpt', 'IOMMU_HWPT_ALLOC: unknown flags EOPNOTSUPP; plain and NEST_PARENT HWPTs; rotation between them with EBUSY while attached; a device attached directly to a manual HWPT.', (p, self) => {
    for (let i = 0; i < self.v.domains; i++) {
      const idev = `$d${i}_idev`;
      const stdev = `$d${i}_stdev`;
      p.ioctl('IOMMU_HWPT_ALLOC', { dev_id: idev, pt_id: '$ioas', flags: '0xfffffffe' }, { expect: err('EOPNOTSUPP'), note: '~IOMMU_HWPT_ALLOC_NEST_PARENT' });
      p.ioctl('IOMMU_HWPT_ALLOC', { dev_id: idev, pt_id: '$ioas', flags: 0 }, { expect: ok, bind: { h0: 'out.out_hwpt_id' } });
      p.ioctl('IOMMU_HWPT_ALLOC', { dev_id: idev, pt_id: '$ioas', flags: 'IOMMU_HWPT_ALLOC_NEST_PARENT' }, { expect: ok, bind: { h1: 'out.out_hwpt_id' } });
      p.mockDomainReplace(stdev, '$h0');
      p.destroy('$h0', err('EBUSY'));
      p.mockDomainReplace(stdev, '$h1');
      p.destroy('$h1', err('EBUSY'));
      p.mockDomainReplace(stdev, '$ioas');
      p.destroy('$h1');
      p.mockDomain('$h0', 'direct_');
      p.destroy('$direct_stdev');
      p.destroy('$h0');
    }
  }, { usesFile: false }),
];
