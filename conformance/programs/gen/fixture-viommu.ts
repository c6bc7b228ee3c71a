/**
 * Ports of FIXTURE(iommufd_viommu) × {no_viommu, mock_viommu} and
 * FIXTURE(iommufd_device_pasid) × {no_pasid, has_pasid}
 * (tools/testing/selftests/iommu/iommufd.c, 7.3 only). Not ported:
 * viommu_alloc_with_data's mmap of the vIOMMU page (the contract has no mmap
 * of an iommufd).
 */
import type { Json, StepExpect } from '../types.ts';
import { err, hex, MOCK_APERTURE_START, ok, PAGE_SIZE, va, type ProgramBuilder, type TestDef } from './dsl.ts';
import { devCheckCache, triggerIopf } from './fixture-ioas.ts';

const FILE = 'tools/testing/selftests/iommu/iommufd.c';
const SELFTEST_DATA: Json = { data: { u32s: ['IOMMU_TEST_IOTLB_DEFAULT', 0] } };

function nested(p: ProgramBuilder, parent: Json, flags: Json, bind: string | undefined, expect: StepExpect = ok, faultId?: Json): void {
  const f: { [k: string]: Json } = { dev_id: '$idev', pt_id: parent, flags, data_type: 'IOMMU_HWPT_DATA_SELFTEST', data_len: 8, data_uptr: SELFTEST_DATA };
  if (faultId !== undefined) f['fault_id'] = faultId;
  p.ioctl('IOMMU_HWPT_ALLOC', f, { expect, bind: bind && expect.ok ? { [bind]: 'out.out_hwpt_id' } : undefined });
}

function viommuAlloc(p: ProgramBuilder, dev: Json, hwpt: Json, type: Json, bind: string | undefined, expect: StepExpect = ok): void {
  p.ioctl('IOMMU_VIOMMU_ALLOC', { dev_id: dev, hwpt_id: hwpt, type }, { expect, bind: bind && expect.ok ? { [bind]: 'out.out_viommu_id' } : undefined });
}

function vdeviceAlloc(p: ProgramBuilder, viommu: Json, dev: Json, virt: number, bind: string | undefined, expect: StepExpect = ok): void {
  p.ioctl('IOMMU_VDEVICE_ALLOC', { viommu_id: viommu, dev_id: dev, virt_id: hex(virt) }, { expect, bind: bind && expect.ok ? { [bind]: 'out.out_vdevice_id' } : undefined });
}

function faultAlloc(p: ProgramBuilder): void {
  p.ioctl('IOMMU_FAULT_QUEUE_ALLOC', {}, { expect: ok, bind: { fault: 'out.out_fault_id', fault_fd: 'out.out_fault_fd' } });
}

/** What the mock_viommu fixture itself needs: a nesting parent, the mock vIOMMU, a nested HWPT on it. */
const VIOMMU_FIXTURE_FEATURES = ['IOMMU_HWPT_ALLOC_NEST_PARENT', 'IOMMU_VIOMMU_TYPE_SELFTEST', 'IOMMU_HWPT_DATA_SELFTEST'];

function viommuTest(test: string, description: string, body: (p: ProgramBuilder, mock: boolean) => void, variants = ['no_viommu', 'mock_viommu'], features: readonly string[] = []): TestDef[] {
  return variants.map((variant) => ({
    name: `iommufd_viommu.${variant}.${test}`,
    description,
    source: { file: FILE, fixture: 'iommufd_viommu', variant, test, kernels: ['7.3'] as const },
    ...(variant === 'mock_viommu' ? { requires: { commands: ['IOMMU_VIOMMU_ALLOC', 'IOMMU_VDEVICE_ALLOC'], features: [...VIOMMU_FIXTURE_FEATURES, ...features] } } : {}),
    build: (p: ProgramBuilder) => {
      const mock = variant === 'mock_viommu';
      p.memAlloc();
      p.open();
      p.ioasAlloc('ioas');
      p.setDefaultMemoryLimit();
      if (mock) {
        p.mockDomain('$ioas');
        p.ioctl('IOMMU_HWPT_ALLOC', { dev_id: '$idev', pt_id: '$ioas', flags: 'IOMMU_HWPT_ALLOC_NEST_PARENT' }, { expect: ok, bind: { parent: 'out.out_hwpt_id' } });
        viommuAlloc(p, '$idev', '$parent', 'IOMMU_VIOMMU_TYPE_SELFTEST', 'viommu');
        nested(p, '$viommu', 0, 'nested');
      }
      body(p, mock);
      p.teardown();
    },
  }));
}

function viommuInvalidate(p: ProgramBuilder, reqs: readonly (readonly [Json, Json, Json])[] | null, dataType: Json, entryLen: number, entryNum: number, expect: StepExpect, outNum: number): void {
  const data: Json = reqs === null ? '0' : { data: { u32s: reqs.length ? reqs.flatMap((r) => [...r]) : [0, 0, 0] } };
  p.ioctl('IOMMU_HWPT_INVALIDATE', { hwpt_id: '$viommu', data_uptr: data, data_type: dataType, entry_len: entryLen, entry_num: entryNum }, { expect: { ...expect, out: { entry_num: outNum } } });
}

function hwQueue(p: ProgramBuilder, type: Json, index: number | string, iova: Json, length: number | string, bind: string | undefined, expect: StepExpect): void {
  p.ioctl('IOMMU_HW_QUEUE_ALLOC', { viommu_id: '$viommu', type, index, nesting_parent_iova: iova, length: String(length) }, { expect, bind: bind && expect.ok ? { [bind]: 'out.out_hw_queue_id' } : undefined });
}

const DEFAULT_CACHE = 'IOMMU_TEST_DEV_CACHE_DEFAULT';
const S = 'IOMMU_VIOMMU_INVALIDATE_DATA_SELFTEST';

export const VIOMMU_TESTS: readonly TestDef[] = [
  ...viommuTest('viommu_auto_destroy', 'The fixture alone: parent HWPT, vIOMMU and nested HWPT freed with the fd.', () => {}),
  ...viommuTest('viommu_negative_tests', 'IOMMU_VIOMMU_ALLOC: HWPT 0 is ENOENT, a non-NEST_PARENT HWPT EINVAL, an unknown type EOPNOTSUPP; the parent and the vIOMMU are busy.', (p, mock) => {
    if (!mock) {
      viommuAlloc(p, 0, 0, 'IOMMU_VIOMMU_TYPE_SELFTEST', undefined, err('ENOENT'));
      return;
    }
    viommuAlloc(p, '$idev', 0, 'IOMMU_VIOMMU_TYPE_SELFTEST', undefined, err('ENOENT'));
    p.ioctl('IOMMU_HWPT_ALLOC', { dev_id: '$idev', pt_id: '$ioas' }, { expect: ok, bind: { plain: 'out.out_hwpt_id' } });
    viommuAlloc(p, '$idev', '$plain', 'IOMMU_VIOMMU_TYPE_SELFTEST', undefined, err('EINVAL'));
    p.destroy('$plain');
    viommuAlloc(p, '$idev', '$parent', '0xdead', undefined, err('EOPNOTSUPP'));
    p.destroy('$parent', err('EBUSY'));
    p.destroy('$viommu', err('EBUSY'));
  }),
  ...viommuTest(
    'viommu_alloc_nested_iopf',
    'An IOPF-capable nested HWPT on a vIOMMU: bad fault id ENOENT, unknown flag EOPNOTSUPP; attaching needs a vDEVICE (ENOENT before); a fault is delivered and answered.',
    (p) => {
      faultAlloc(p);
      nested(p, '$viommu', 'IOMMU_HWPT_FAULT_ID_VALID', undefined, err('ENOENT'), '0xffffffff');
      nested(p, '$viommu', 'IOMMU_HWPT_FAULT_ID_VALID|0x80000000', undefined, err('EOPNOTSUPP'), '$fault');
      nested(p, '$viommu', 'IOMMU_HWPT_FAULT_ID_VALID', 'iopf_hwpt', ok, '$fault');
      p.mockDomainReplace('$stdev', '$iopf_hwpt', err('ENOENT'));
      vdeviceAlloc(p, '$viommu', '$idev', 0x99, 'vdev');
      p.mockDomainReplace('$stdev', '$iopf_hwpt');
      p.destroy('$iopf_hwpt', err('EBUSY'));
      triggerIopf(p, '$idev', 1, '$fault_fd');
      p.mockDomainReplace('$stdev', '$ioas');
      p.destroy('$iopf_hwpt');
      p.close('$fault_fd');
      p.destroy('$fault');
    },
    ['mock_viommu'],
    ['IOMMU_HWPT_FAULT_ID_VALID'],
  ),
  ...viommuTest(
    'viommu_alloc_with_data',
    'IOMMU_VIOMMU_ALLOC with driver data: the mock copies in_data to out_data (loopback). The mmap half of the selftest is not ported (no mmap of an iommufd in the contract).',
    (p) => {
      p.ioctl(
        'IOMMU_VIOMMU_ALLOC',
        { dev_id: '$idev', hwpt_id: '$parent', type: 'IOMMU_VIOMMU_TYPE_SELFTEST', data_len: 24, data_uptr: { data: { u32s: ['0xbeef', 0, 0, 0, 0, 0] } } },
        { expect: { ok: true, buffers: { data_uptr: { le32: { '0': '0xbeef', '4': '0xbeef' } } } }, bind: { viommu2: 'out.out_viommu_id' } },
      );
    },
    ['mock_viommu'],
  ),
  ...viommuTest('vdevice_alloc', 'vDEVICEs and vEVENTQs: depth bounds, one vEVENTQ per type (EEXIST), read sizes on empty and non-empty queues (EINVAL), events carry the virtual id, a duplicate virtual id is EEXIST, overflow is reported (EOVERFLOW via the LOST_EVENTS header).', (p, mock) => {
    if (!mock) {
      vdeviceAlloc(p, 0, 0, 0x99, undefined, err('ENOENT'));
      return;
    }
    const veventq = (depth: number | string, bind: boolean, expect: StepExpect): void => {
      p.ioctl('IOMMU_VEVENTQ_ALLOC', { viommu_id: '$viommu', type: 'IOMMU_VEVENTQ_TYPE_SELFTEST', veventq_depth: depth }, { expect, bind: bind ? { veventq: 'out.out_veventq_id', veventq_fd: 'out.out_veventq_fd' } : undefined });
    };
    const trigger = (n: number): void => {
      for (let i = 0; i < n; i++) p.test('TRIGGER_VEVENT', 0, 'trigger_vevent', { dev_id: '$idev' }, { expect: ok });
    };
    p.mockDomainReplace('$stdev', '$nested', err('ENOENT'));
    veventq(0, false, err('EINVAL'));
    veventq((1 << 19) + 1, false, err('EINVAL'));
    veventq(1 << 19, true, ok);
    p.close('$veventq_fd');
    p.destroy('$veventq');
    veventq(2, true, ok);
    veventq(2, false, err('EEXIST'));
    p.step('read', { fd: '$veventq_fd', count: 0 }, { expect: err('EINVAL') });
    p.step('read', { fd: '$veventq_fd', count: 7 }, { expect: err('EINVAL') });
    vdeviceAlloc(p, '$viommu', '$idev', 0x99, 'vdev');
    p.mockDomainReplace('$stdev', '$nested');
    trigger(1);
    p.step('read', { fd: '$veventq_fd', count: 0 }, { expect: err('EINVAL') });
    p.step('read', { fd: '$veventq_fd', count: 8 }, { expect: err('EINVAL'), note: 'the header fits, the payload does not' });
    p.step('poll', { fd: '$veventq_fd', events: 1 }, { expect: { result: { revents: 1 } }, note: 'POLLIN' });
    p.step('read', { fd: '$veventq_fd', count: 12 }, { expect: { ok: true, ret: 12 } });
    vdeviceAlloc(p, '$viommu', '$idev', 0x99, undefined, err('EEXIST'));
    p.mockDomainReplace('$stdev', '$ioas');
    p.destroy('$vdev');
    vdeviceAlloc(p, '$viommu', '$idev', 0x88, 'vdev');
    p.mockDomainReplace('$stdev', '$nested');
    trigger(3);
    p.step('read', { fd: '$veventq_fd', count: 36 }, { expect: { ok: true, ret: { range: [12, 36] } }, note: 'depth 2: the third event is lost (the selftest sees LOST_EVENTS or a sequence gap)' });
    trigger(1);
    p.step('read', { fd: '$veventq_fd', count: 12 }, { expect: { ok: true, ret: 12 } });
    p.close('$veventq_fd');
    p.mockDomainReplace('$stdev', '$ioas');
    p.destroy('$vdev');
    p.destroy('$veventq');
  }, undefined, ['IOMMU_VEVENTQ_TYPE_SELFTEST']),
  ...viommuTest(
    'vdevice_cache',
    'IOMMU_HWPT_INVALIDATE on a vIOMMU: every argument check, partial failures report how many entries were handled, the mock device cache shows what was invalidated.',
    (p) => {
      vdeviceAlloc(p, '$viommu', '$idev', 0x99, 'vdev');
      for (let c = 0; c < 4; c++) devCheckCache(p, '$idev', c, DEFAULT_CACHE);
      viommuInvalidate(p, [], S, 12, 0, ok, 0);
      viommuInvalidate(p, [[0, 0, 0]], 'IOMMU_VIOMMU_INVALIDATE_DATA_SELFTEST_INVALID', 12, 1, err('EINVAL'), 0);
      viommuInvalidate(p, [[0, 0, 0]], S, 13, 1, err('EINVAL'), 0);
      viommuInvalidate(p, [[0, 0, 0]], S, 1, 1, err('EINVAL'), 0);
      viommuInvalidate(p, [['0xffffffff', 0x99, 0]], S, 12, 1, err('EOPNOTSUPP'), 0);
      viommuInvalidate(p, null, S, 12, 1, err('EINVAL'), 0);
      viommuInvalidate(p, [[0, 0x99, 0]], S, 0, 1, err('EINVAL'), 0);
      viommuInvalidate(p, [[0, 0x99, 4]], S, 12, 1, err('EINVAL'), 0);
      viommuInvalidate(p, [[0, 0x9, 0]], S, 12, 1, err('EINVAL'), 0);
      viommuInvalidate(p, [[0, 0x99, 0], ['0xffffffff', 0x99, 1]], S, 12, 2, err('EOPNOTSUPP'), 1);
      devCheckCache(p, '$idev', 0, 0);
      for (let c = 1; c < 4; c++) devCheckCache(p, '$idev', c, DEFAULT_CACHE);
      viommuInvalidate(p, [[0, 0x99, 0], [0, 0x99, 4]], S, 12, 2, err('EINVAL'), 1);
      devCheckCache(p, '$idev', 0, 0);
      for (let c = 1; c < 4; c++) devCheckCache(p, '$idev', c, DEFAULT_CACHE);
      viommuInvalidate(p, [[0, 0x99, 1]], S, 12, 1, ok, 1);
      devCheckCache(p, '$idev', 0, 0);
      devCheckCache(p, '$idev', 1, 0);
      devCheckCache(p, '$idev', 2, DEFAULT_CACHE);
      devCheckCache(p, '$idev', 3, DEFAULT_CACHE);
      viommuInvalidate(p, [[0, 0x99, 2], [0, 0x99, 3]], S, 12, 2, ok, 2);
      for (let c = 0; c < 4; c++) devCheckCache(p, '$idev', c, 0);
      viommuInvalidate(p, [['IOMMU_TEST_INVALIDATE_FLAG_ALL', 0x99, 0]], S, 12, 1, ok, 1);
      for (let c = 0; c < 4; c++) devCheckCache(p, '$idev', c, 0);
      p.destroy('$vdev');
    },
    ['mock_viommu'],
    ['IOMMU_VIOMMU_INVALIDATE_DATA_SELFTEST'],
  ),
  ...viommuTest(
    'hw_queue',
    'IOMMU_HW_QUEUE_ALLOC: type, length, overflow and missing-IOVA checks, index order (EIO), duplicates (EEXIST), the queue pins its IOVA (unmap EBUSY), queues are destroyed in reverse.',
    (p) => {
      const T = 'IOMMU_HW_QUEUE_TYPE_SELFTEST';
      const A = hex(MOCK_APERTURE_START);
      hwQueue(p, 'IOMMU_HW_QUEUE_TYPE_DEFAULT', 0, A, PAGE_SIZE, undefined, err('EOPNOTSUPP'));
      hwQueue(p, T, 0, A, 0, undefined, err('EINVAL'));
      hwQueue(p, T, 0, '0xffffffffffffffff', PAGE_SIZE, undefined, err('EOVERFLOW'));
      hwQueue(p, T, 0, A, PAGE_SIZE, undefined, err('ENOENT'));
      p.map('$ioas', va('buf'), PAGE_SIZE, { bindIova: 'iova' });
      p.map('$ioas', va('buf', PAGE_SIZE), PAGE_SIZE, { bindIova: 'iova2' });
      hwQueue(p, T, 1, '$iova', PAGE_SIZE, undefined, err('EIO'));
      hwQueue(p, T, 'IOMMU_TEST_HW_QUEUE_MAX', '$iova', PAGE_SIZE, undefined, err('EINVAL'));
      hwQueue(p, T, 0, '$iova', PAGE_SIZE, 'q0', ok);
      hwQueue(p, T, 0, '$iova', PAGE_SIZE, undefined, err('EEXIST'));
      p.unmap('$ioas', '$iova', PAGE_SIZE, err('EBUSY'));
      p.unmap('$ioas', '$iova2', PAGE_SIZE);
      hwQueue(p, T, 1, { $: 'iova', add: PAGE_SIZE / 2 }, PAGE_SIZE / 2, 'q1', ok);
      p.destroy('$q0', err('EBUSY'));
      p.destroy('$q1');
      p.destroy('$q0');
      p.unmap('$ioas', '$iova', PAGE_SIZE);
    },
    ['mock_viommu'],
    ['IOMMU_HW_QUEUE_TYPE_SELFTEST'],
  ),
  ...viommuTest(
    'vdevice_tombstone',
    'Destroying the device behind a vDEVICE destroys the vDEVICE too: its id is then ENOENT.',
    (p) => {
      vdeviceAlloc(p, '$viommu', '$idev', 0x99, 'vdev');
      p.destroy('$stdev');
      p.destroy('$vdev', err('ENOENT'));
    },
    ['mock_viommu'],
  ),
];

function pasidOp(p: ProgramBuilder, op: 'ATTACH' | 'REPLACE', pasid: number, pt: Json, expect: StepExpect = ok): void {
  p.test(`PASID_${op}`, '$stdev', `pasid_${op.toLowerCase()}`, { pasid, pt_id: pt }, { expect });
}

function pasidCheck(p: ProgramBuilder, pasid: number, hwpt: Json): void {
  p.test('PASID_CHECK_HWPT', '$stdev', 'pasid_check', { pasid, hwpt_id: hwpt }, { expect: ok });
}

function pasidDetach(p: ProgramBuilder, pasid: number): void {
  p.test('PASID_DETACH', '$stdev', 'pasid_detach', { pasid }, { expect: ok });
}

export const PASID_TESTS: readonly TestDef[] = ['no_pasid', 'has_pasid'].map((variant) => ({
  name: `iommufd_device_pasid.${variant}.pasid_attach`,
  description: 'PASID attach/replace/detach through the mock device: which HWPTs a PASID may use (PASID-capable, not a parent, not an IOAS), the RID-side rules, EBUSY for a second attach, the reserved PASID whose replace fails with ENOMEM, and an IOPF on a PASID.',
  source: { file: FILE, fixture: 'iommufd_device_pasid', variant, test: 'pasid_attach', kernels: ['7.3'] as const },
  requires: {
    commands: ['IOMMU_VIOMMU_ALLOC', 'IOMMU_FAULT_QUEUE_ALLOC'],
    testOps: ['IOMMU_TEST_OP_PASID_ATTACH', 'IOMMU_TEST_OP_PASID_REPLACE', 'IOMMU_TEST_OP_PASID_DETACH', 'IOMMU_TEST_OP_PASID_CHECK_HWPT'],
    features: ['IOMMU_HWPT_ALLOC_PASID', 'IOMMU_HWPT_ALLOC_NEST_PARENT', 'IOMMU_HWPT_DATA_SELFTEST', 'IOMMU_HWPT_FAULT_ID_VALID', 'IOMMU_VIOMMU_TYPE_SELFTEST'],
  },
  build: (p: ProgramBuilder) => {
    p.memAlloc();
    p.open();
    p.ioasAlloc('ioas');
    p.mockDomainFlags('$ioas', 'MOCK_FLAGS_DEVICE_PASID');
    if (variant === 'no_pasid') p.mockDomainFlags('$ioas', 0, 'np_');
    let pasid = 100;
    pasidDetach(p, pasid);
    p.ioctl('IOMMU_HWPT_ALLOC', { dev_id: '$idev', pt_id: '$ioas', flags: 'IOMMU_HWPT_ALLOC_NEST_PARENT' }, { expect: ok, bind: { parent: 'out.out_hwpt_id' } });
    nested(p, '$parent', 'IOMMU_HWPT_ALLOC_PASID', 'n0');
    nested(p, '$parent', 'IOMMU_HWPT_ALLOC_PASID', 'n1');
    faultAlloc(p);
    nested(p, '$parent', 'IOMMU_HWPT_FAULT_ID_VALID|IOMMU_HWPT_ALLOC_PASID', 'iopf_hwpt', ok, '$fault');
    viommuAlloc(p, '$idev', '$parent', 'IOMMU_VIOMMU_TYPE_SELFTEST', 'viommu');
    nested(p, '$viommu', 'IOMMU_HWPT_ALLOC_PASID', 'n2');
    p.ioctl('IOMMU_HWPT_ALLOC', { dev_id: '$idev', pt_id: '$ioas', flags: 'IOMMU_HWPT_ALLOC_PASID' }, { expect: ok, bind: { s2: 'out.out_hwpt_id' } });
    p.mockDomainReplace('$stdev', '$parent');
    pasidOp(p, 'ATTACH', pasid, '$s2', err('EINVAL'));
    p.mockDomainReplace('$stdev', '$s2');
    pasidOp(p, 'ATTACH', pasid, '$n0');
    p.mockDomainReplace('$stdev', '$parent', err('EINVAL'));
    pasidDetach(p, pasid);
    pasidCheck(p, pasid, 0);
    if (variant === 'no_pasid') {
      p.mockDomainReplace('$np_stdev', '$n0');
      p.mockDomainReplace('$np_stdev', '$ioas');
      p.test('PASID_ATTACH', '$np_stdev', 'pasid_attach', { pasid, pt_id: '$parent' }, { expect: err('EINVAL') });
      p.test('PASID_ATTACH', '$np_stdev', 'pasid_attach', { pasid, pt_id: '$s2' }, { expect: err('EINVAL') });
    }
    pasidOp(p, 'ATTACH', pasid, '$parent', err('EINVAL'));
    pasidCheck(p, pasid, 0);
    pasidOp(p, 'ATTACH', pasid, '$ioas', err('EINVAL'));
    pasidCheck(p, pasid, 0);
    pasidOp(p, 'ATTACH', pasid, '$s2');
    pasidCheck(p, pasid, '$s2');
    pasidOp(p, 'ATTACH', pasid, '$n0', err('EBUSY'));
    pasidDetach(p, pasid);
    pasidCheck(p, pasid, 0);
    pasidOp(p, 'ATTACH', pasid, '$n0');
    pasidCheck(p, pasid, '$n0');
    pasidOp(p, 'ATTACH', pasid, '$n0', err('EBUSY'));
    pasidDetach(p, pasid);
    pasid = 200;
    pasidOp(p, 'REPLACE', pasid, '$s2', err('EINVAL'));
    pasidOp(p, 'ATTACH', pasid, '$s2');
    pasidCheck(p, pasid, '$s2');
    pasidOp(p, 'REPLACE', pasid, '$ioas', err('EINVAL'));
    pasidCheck(p, pasid, '$s2');
    pasidOp(p, 'REPLACE', pasid, '$n0');
    pasidCheck(p, pasid, '$n0');
    pasidOp(p, 'REPLACE', pasid, '$n1');
    pasidCheck(p, pasid, '$n1');
    pasidDetach(p, pasid);
    pasid = 1024;
    pasidOp(p, 'ATTACH', pasid, '$s2');
    pasidCheck(p, pasid, '$s2');
    pasidOp(p, 'REPLACE', pasid, '$n0', err('ENOMEM'));
    pasidCheck(p, pasid, '$s2');
    pasidDetach(p, pasid);
    pasid = 2048;
    pasidOp(p, 'ATTACH', pasid, '$iopf_hwpt');
    pasidCheck(p, pasid, '$iopf_hwpt');
    triggerIopf(p, '$idev', pasid, '$fault_fd');
    pasidOp(p, 'REPLACE', pasid, '$s2');
    pasidCheck(p, pasid, '$s2');
    pasidDetach(p, pasid);
    p.destroy('$iopf_hwpt');
    p.close('$fault_fd');
    p.destroy('$fault');
    p.mockDomainReplace('$stdev', '$ioas');
    p.teardown();
  },
}));
