/**
 * Programs written for the spec's errno clauses that the selftest ports do
 * not reach (spec/clauses, kind 'errno'): one program per command or area,
 * each step naming the clause it reaches in its note. Not selftest ports:
 * source.test names the clause area.
 */
import type { Profile } from '../../../spec/contract/types.ts';
import type { Json, StepExpect } from '../types.ts';
import { BUFFER_SIZE, err, hex, MOCK_APERTURE_START, ok, PAGE_SIZE, va, type ProgramBuilder, type TestDef } from './dsl.ts';

const BOTH: readonly Profile[] = ['6.12', '7.3'];
const U64_MAX = '0xffffffffffffffff';
const RW = 'IOMMU_IOAS_MAP_WRITEABLE|IOMMU_IOAS_MAP_READABLE';
const FIXED_RW = `IOMMU_IOAS_MAP_FIXED_IOVA|${RW}`;

function errnoTest(name: string, description: string, body: (p: ProgramBuilder) => void, o: { kernels?: readonly Profile[]; requires?: TestDef['requires'] } = {}): TestDef {
  return {
    name: `errnos.${name}`,
    description,
    source: { test: name, kernels: o.kernels ?? BOTH },
    ...(o.requires ? { requires: o.requires } : {}),
    build: (p) => {
      p.memAlloc();
      p.open();
      p.ioasAlloc('ioas');
      body(p);
      p.teardown();
    },
  };
}

function step(p: ProgramBuilder, cmd: string, fields: { [k: string]: Json }, expect: StepExpect, clause: string): void {
  p.ioctl(cmd, fields, { expect, note: clause });
}

export const ERRNO_TESTS: readonly TestDef[] = [
  errnoTest('ioas_alloc', 'IOMMU_IOAS_ALLOC argument checks.', (p) => {
    step(p, 'IOMMU_IOAS_ALLOC', { flags: 1 }, err('EOPNOTSUPP'), 'IOAS_ALLOC.FLAGS');
  }),
  errnoTest('ioas_map', 'IOMMU_IOAS_MAP argument checks in the kernel’s order, and the memlock limit.', (p) => {
    const map = (f: { [k: string]: Json }, e: StepExpect, clause: string): void => step(p, 'IOMMU_IOAS_MAP', { ioas_id: '$ioas', flags: RW, user_va: va('buf'), length: String(PAGE_SIZE), ...f }, e, clause);
    map({ flags: '0x80000000' }, err('EOPNOTSUPP'), 'IOAS_MAP.FLAGS');
    map({ __reserved: 1 }, err('EOPNOTSUPP'), 'IOAS_MAP.FLAGS (__reserved)');
    map({ flags: FIXED_RW, iova: U64_MAX }, err('EOVERFLOW'), 'IOAS_MAP.U64_MAX (iova)');
    map({ length: U64_MAX }, err('EOVERFLOW'), 'IOAS_MAP.U64_MAX (length)');
    map({ ioas_id: 0 }, err('ENOENT'), 'IOAS_MAP.IOAS');
    map({ user_va: '0xffffffffffff0000', length: '0x20000' }, err('EOVERFLOW'), 'IOAS_MAP.UPTR_WRAP');
    map({ length: '0x8000000000000000' }, err('EOVERFLOW'), 'IOAS_MAP.AUTO_TOO_LONG');
    map({ flags: FIXED_RW, iova: '0xfffffffffffff000', length: '0x2000' }, err('EOVERFLOW'), 'IOAS_MAP.FIXED_WRAP');
    p.ioctl('IOMMU_IOAS_ALLOW_IOVAS', { ioas_id: '$ioas', num_iovas: 1, allowed_iovas: { data: { u64s: [hex(MOCK_APERTURE_START), hex(MOCK_APERTURE_START + PAGE_SIZE - 1)] } } }, { expect: ok, note: 'allow one page' });
    map({ length: String(PAGE_SIZE * 2) }, err('ENOSPC'), 'IOAS_MAP.NO_SPACE');
  }),
  errnoTest(
    'ioas_noiommu_get_pa',
    'IOMMU_IOAS_NOIOMMU_GET_PA on an ordinary IOAS (no clause yet: the result is compared between implementations by diff, not fixed here).',
    (p) => {
      p.mapFixed('$ioas', va('buf'), PAGE_SIZE, hex(MOCK_APERTURE_START));
      p.ioctl('IOMMU_IOAS_NOIOMMU_GET_PA', { ioas_id: '$ioas', iova: hex(MOCK_APERTURE_START), length: String(PAGE_SIZE) }, { note: 'no-iommu mode is off: whatever the kernel answers, both sides must agree' });
    },
    { kernels: ['7.3'] },
  ),
  errnoTest(
    'ioas_map_rlimit',
    'Pinning beyond RLIMIT_MEMLOCK without CAP_IPC_LOCK fails with ENOMEM (user accounting), and nothing stays pinned.',
    (p) => {
      p.step('set_process', { capIpcLock: false, rlimitMemlock: String(PAGE_SIZE) }, { note: 'one page of memlock' });
      p.mockDomain('$ioas');
      p.map('$ioas', va('buf'), BUFFER_SIZE, { expect: err('ENOMEM') });
      p.checkRefs(va('buf'), BUFFER_SIZE, 0);
      p.step('set_process', { capIpcLock: true, rlimitMemlock: null }, {});
    },
    { requires: { ops: ['set_process'] } },
  ),
  errnoTest('ioas_copy', 'IOMMU_IOAS_COPY argument checks; a writeable copy of read-only pages is EPERM.', (p) => {
    const A = MOCK_APERTURE_START;
    p.mapFixed('$ioas', va('buf'), PAGE_SIZE * 2, hex(A));
    p.mapFixed('$ioas', va('buf', PAGE_SIZE * 2), PAGE_SIZE, hex(A + PAGE_SIZE * 4), ok, 'IOMMU_IOAS_MAP_FIXED_IOVA|IOMMU_IOAS_MAP_READABLE');
    const copy = (f: { [k: string]: Json }, e: StepExpect, clause: string): void =>
      step(p, 'IOMMU_IOAS_COPY', { flags: 'IOMMU_IOAS_MAP_FIXED_IOVA|IOMMU_IOAS_MAP_WRITEABLE', dst_ioas_id: '$ioas', src_ioas_id: '$ioas', length: String(PAGE_SIZE), src_iova: hex(A), dst_iova: hex(A + PAGE_SIZE * 8), ...f }, e, clause);
    copy({ flags: '0x80000000' }, err('EOPNOTSUPP'), 'IOAS_COPY.FLAGS');
    copy({ length: U64_MAX }, err('EOVERFLOW'), 'IOAS_COPY.U64_MAX (length)');
    copy({ src_iova: U64_MAX }, err('EOVERFLOW'), 'IOAS_COPY.U64_MAX (src_iova)');
    copy({ src_iova: '0xfffffffffffff000', length: '0x2000' }, err('EOVERFLOW'), 'IOAS_COPY.WRAP');
    copy({ dst_iova: hex(A + PAGE_SIZE) }, err('EEXIST'), 'IOAS_COPY.DST_CHECKS (occupied fixed IOVA)');
    copy({ src_iova: hex(A + PAGE_SIZE * 4) }, err('EPERM'), 'IOAS_COPY.READ_ONLY_SOURCE');
    copy({}, ok, 'a good copy');
  }),
  errnoTest('ioas_unmap', 'IOMMU_IOAS_UNMAP overflow checks.', (p) => {
    step(p, 'IOMMU_IOAS_UNMAP', { ioas_id: '$ioas', iova: U64_MAX, length: '1' }, err('EOVERFLOW'), 'IOAS_UNMAP.U64_MAX');
    step(p, 'IOMMU_IOAS_UNMAP', { ioas_id: '$ioas', iova: '0xfffffffffffff000', length: '0x2000' }, err('EOVERFLOW'), 'IOAS_UNMAP.WRAP');
  }),
  errnoTest('ioas_iova_ranges', 'IOMMU_IOAS_IOVA_RANGES: __reserved and an unwritable array.', (p) => {
    step(p, 'IOMMU_IOAS_IOVA_RANGES', { ioas_id: '$ioas', __reserved: 1, num_iovas: 0 }, err('EOPNOTSUPP'), 'IOAS_IOVA_RANGES.RESERVED');
    step(p, 'IOMMU_IOAS_IOVA_RANGES', { ioas_id: '$ioas', num_iovas: 1, allowed_iovas: '0x10' }, err('EFAULT'), 'IOAS_IOVA_RANGES.EFAULT');
  }),
  errnoTest('ioas_allow_iovas', 'IOMMU_IOAS_ALLOW_IOVAS: __reserved and an unreadable array.', (p) => {
    step(p, 'IOMMU_IOAS_ALLOW_IOVAS', { ioas_id: '$ioas', __reserved: 1 }, err('EOPNOTSUPP'), 'IOAS_ALLOW_IOVAS.RESERVED');
    step(p, 'IOMMU_IOAS_ALLOW_IOVAS', { ioas_id: '$ioas', num_iovas: 1, allowed_iovas: '0x10' }, err('EFAULT'), 'IOAS_ALLOW_IOVAS.EFAULT');
  }),
  errnoTest('option', 'IOMMU_OPTION: __reserved, unknown option, unknown op, RLIMIT_MODE is global, setting it needs CAP_SYS_RESOURCE.', (p) => {
    const opt = (f: { [k: string]: Json }, e: StepExpect, clause: string): void => step(p, 'IOMMU_OPTION', { option_id: 'IOMMU_OPTION_HUGE_PAGES', op: 'IOMMU_OPTION_OP_GET', object_id: '$ioas', ...f }, e, clause);
    opt({ __reserved: 1 }, err('EOPNOTSUPP'), 'OPTION.RESERVED');
    opt({ option_id: 99 }, err('EOPNOTSUPP'), 'OPTION.RESERVED (unknown option_id)');
    opt({ op: 7 }, err('EOPNOTSUPP'), 'OPTION.HUGE_PAGES.OP');
    opt({ option_id: 'IOMMU_OPTION_RLIMIT_MODE' }, err('EOPNOTSUPP'), 'OPTION.RLIMIT_MODE.OBJECT_ID');
  }),
  errnoTest(
    'option_rlimit_eperm',
    'Setting IOMMU_OPTION_RLIMIT_MODE without CAP_SYS_RESOURCE fails with EPERM.',
    (p) => {
      p.step('set_process', { capSysResource: false }, {});
      step(p, 'IOMMU_OPTION', { option_id: 'IOMMU_OPTION_RLIMIT_MODE', op: 'IOMMU_OPTION_OP_SET', val64: '1' }, err('EPERM'), 'OPTION.RLIMIT_MODE.EPERM');
      p.step('set_process', { capSysResource: true }, {});
    },
    { requires: { ops: ['set_process'] } },
  ),
  errnoTest('vfio_ioas', 'IOMMU_VFIO_IOAS: __reserved and an unknown op; VFIO_SET_IOMMU with an unknown type.', (p) => {
    step(p, 'IOMMU_VFIO_IOAS', { op: 'IOMMU_VFIO_IOAS_GET', __reserved: 1 }, err('EOPNOTSUPP'), 'VFIO_IOAS.RESERVED');
    step(p, 'IOMMU_VFIO_IOAS', { op: 9 }, err('EOPNOTSUPP'), 'VFIO_IOAS.RESERVED (unknown op)');
    step(p, 'IOMMU_VFIO_IOAS', { op: 'IOMMU_VFIO_IOAS_SET', ioas_id: '$ioas' }, ok, 'set the compat IOAS');
    p.ioctlArg('VFIO_SET_IOMMU', { kind: 'int', value: 99 }, { expect: err('EINVAL'), note: 'VFIO_COMPAT.SET_IOMMU' });
  }),
  errnoTest('hwpt_alloc_domain_conflicts', 'A mock domain cannot be added to an IOAS with an area outside its aperture, or misaligned for it (EADDRINUSE).', (p) => {
    p.mockDomain('$ioas');
    p.ioasAlloc('low');
    p.mapFixed('$low', va('buf'), PAGE_SIZE, hex(PAGE_SIZE));
    step(p, 'IOMMU_HWPT_ALLOC', { dev_id: '$idev', pt_id: '$low' }, err('EADDRINUSE'), 'IOPT.ADD_DOMAIN.APERTURE / HWPT_ALLOC.IOAS_CONFLICT');
    p.ioasAlloc('odd');
    p.mapFixed('$odd', va('buf', 1024), 1024, hex(MOCK_APERTURE_START + 1024));
    step(p, 'IOMMU_HWPT_ALLOC', { dev_id: '$idev', pt_id: '$odd' }, err('EADDRINUSE'), 'IOPT.ADD_DOMAIN.MISALIGNED');
  }),
  errnoTest('get_hw_info', 'IOMMU_GET_HW_INFO with an unwritable buffer is EFAULT.', (p) => {
    p.mockDomain('$ioas');
    step(p, 'IOMMU_GET_HW_INFO', { dev_id: '$idev', data_len: 8, data_uptr: '0x10' }, err('EFAULT'), 'GET_HW_INFO.COPY');
    step(p, 'IOMMU_GET_HW_INFO', { dev_id: '$idev', flags: '0x80000000' }, err('EOPNOTSUPP'), 'GET_HW_INFO.FLAGS');
  }),
  errnoTest('test_cmd', 'IOMMU_TEST_CMD argument checks: unknown op, empty reserved range, tiny memory limit, bad access fd, unknown device flags, a refcount mismatch.', (p) => {
    p.ioctl('IOMMU_TEST_CMD', { op: 0x777 }, { expect: err('EOPNOTSUPP'), note: 'TEST_CMD.UNKNOWN_OP' });
    p.test('ADD_RESERVED', '$ioas', 'add_reserved', { start: hex(PAGE_SIZE), length: '0' }, { expect: err('EINVAL'), note: 'TEST_CMD.ADD_RESERVED' });
    p.test('SET_TEMP_MEMORY_LIMIT', 0, 'memory_limit', { limit: 1 }, { expect: err('EINVAL'), note: 'TEST_CMD.SET_TEMP_MEMORY_LIMIT' });
    p.test('ACCESS_PAGES', '$fd', 'access_pages', { iova: hex(MOCK_APERTURE_START), length: String(PAGE_SIZE), uptr: va('buf') }, { expect: err('EBADFD'), note: 'ACCESS.ITEMS: the iommufd is not an access fd' });
    p.mockDomainFlags('$ioas', '0x8000', 'x_', err('EINVAL'));
    // A lone written 4K page: never the zero page, never part of a THP (the
    // kernel skips compound pages, so a hugepage-backed buffer would pass).
    p.step('mem_alloc', { length: PAGE_SIZE }, { bind: { small: '.' } });
    p.step('mem_write', { buffer: '$small.buffer', offset: 0, data: { fill: 0x5a, length: PAGE_SIZE } });
    p.checkRefs(va('small'), PAGE_SIZE, 1, err('EIO'));
  }),
];

/** The VFIO device cdev path (reference only: the kernel's mock devices have no cdev). */
function cdevTest(name: string, description: string, body: (p: ProgramBuilder) => void, kernels: readonly Profile[] = BOTH, features: readonly string[] = [], iommu?: string): TestDef {
  return {
    name: `errnos.${name}`,
    description,
    source: { test: name, kernels },
    requires: { ops: ['device_create', 'open_device'], ...(features.length ? { deviceFeatures: features } : {}) },
    build: (p) => {
      p.memAlloc();
      p.open();
      p.ioasAlloc('ioas');
      p.step('device_create', { spec: { iommu: iommu ?? 'mock' } }, { bind: { dev: 'device', grp: 'group' } });
      p.step('open_device', { device: '$dev' }, { bind: { dfd: 'fd' }, expect: ok });
      body(p);
      p.teardown();
    },
  };
}

function bind(p: ProgramBuilder, dfd: string, f: { [k: string]: Json }, e: StepExpect, clause: string, bindDevid?: string): void {
  p.ioctl('VFIO_DEVICE_BIND_IOMMUFD', { iommufd: '$fd', ...f }, { fd: dfd, expect: e, note: clause, bind: bindDevid && e.ok ? { [bindDevid]: 'out.out_devid' } : undefined });
}

export const CDEV_TESTS: readonly TestDef[] = [
  cdevTest('vfio_bind', 'VFIO_DEVICE_BIND_IOMMUFD argument checks, binding twice, a second open of the device.', (p) => {
    p.ioctlArg('VFIO_DEVICE_BIND_IOMMUFD', { kind: 'fault' }, { fd: '$dfd', expect: err('EFAULT'), note: 'VFIO_BIND.COPY' });
    bind(p, '$dfd', { argsz: 8 }, err('EINVAL'), 'VFIO_BIND.ARGSZ_FLAGS_FD (argsz)');
    bind(p, '$dfd', { flags: '0x80000000' }, err('EINVAL'), 'VFIO_BIND.ARGSZ_FLAGS_FD (flags)');
    bind(p, '$dfd', { iommufd: -1 }, err('EINVAL'), 'VFIO_BIND.ARGSZ_FLAGS_FD (negative fd)');
    bind(p, '$dfd', { iommufd: 999 }, err('EBADF'), 'VFIO_BIND.BAD_FD');
    bind(p, '$dfd', { iommufd: '$dfd' }, err('EBADFD'), 'VFIO_BIND.BAD_FD (not an iommufd)');
    bind(p, '$dfd', {}, ok, 'bind', 'devid');
    bind(p, '$dfd', {}, err('EINVAL'), 'VFIO_BIND.TWICE');
    p.step('open_device', { device: '$dev' }, { bind: { dfd2: 'fd' } });
    bind(p, '$dfd2', {}, err('EINVAL'), 'VFIO_BIND.OPEN_ONCE');
  }),
  cdevTest(
    'vfio_bind_token',
    'The TOKEN flag on a device that needs no VF token is EINVAL.',
    (p) => {
      bind(p, '$dfd', { flags: 'VFIO_DEVICE_BIND_FLAG_TOKEN', token_uuid_ptr: { data: { hex: '00112233445566778899aabbccddeeff' } } }, err('EINVAL'), 'VFIO_BIND.TOKEN');
    },
    ['7.3'],
  ),
  cdevTest(
    'vfio_bind_dma_owner',
    'A group owned by one iommufd cannot be bound by another (EPERM).',
    (p) => {
      p.step('device_create', { spec: { iommu: 'vtd0', group: '$grp' } }, { bind: { dev2: 'device' } });
      p.step('open_device', { device: '$dev2' }, { bind: { dfd2: 'fd' }, expect: ok });
      bind(p, '$dfd', {}, ok, 'bind the first device', 'devid');
      p.open('fd2');
      bind(p, '$dfd2', { iommufd: '$fd2' }, err('EPERM'), 'VFIO_BIND.DMA_OWNER');
    },
    BOTH,
    ['multiDeviceGroups'],
    'vtd0', // the reference's mock IOMMU has single-device groups
  ),
  cdevTest('vfio_attach_detach', 'VFIO_DEVICE_ATTACH_IOMMUFD_PT / DETACH argument checks.', (p) => {
    bind(p, '$dfd', {}, ok, 'bind', 'devid');
    p.ioctlArg('VFIO_DEVICE_ATTACH_IOMMUFD_PT', { kind: 'fault' }, { fd: '$dfd', expect: err('EFAULT'), note: 'VFIO_ATTACH.COPY' });
    p.ioctl('VFIO_DEVICE_ATTACH_IOMMUFD_PT', { argsz: 8, pt_id: '$ioas' }, { fd: '$dfd', expect: err('EINVAL'), note: 'VFIO_ATTACH.ARGSZ_FLAGS (argsz)' });
    p.ioctl('VFIO_DEVICE_ATTACH_IOMMUFD_PT', { flags: '0x80000000', pt_id: '$ioas' }, { fd: '$dfd', expect: err('EINVAL'), note: 'VFIO_ATTACH.ARGSZ_FLAGS (flags)' });
    p.ioctl('VFIO_DEVICE_ATTACH_IOMMUFD_PT', { pt_id: 0 }, { fd: '$dfd', expect: err('ENOENT'), note: 'VFIO_ATTACH.PT_ABSENT' });
    p.ioctl('VFIO_DEVICE_ATTACH_IOMMUFD_PT', { pt_id: '$devid' }, { fd: '$dfd', expect: err('EINVAL'), note: 'VFIO_ATTACH.PT_ABSENT (a device is neither IOAS nor HWPT)' });
    p.ioctl('VFIO_DEVICE_ATTACH_IOMMUFD_PT', { pt_id: '$ioas' }, { fd: '$dfd', expect: { ok: true, out: { pt_id: { not: 0 } } }, note: 'attach' });
    p.ioctl('VFIO_DEVICE_DETACH_IOMMUFD_PT', { argsz: 4 }, { fd: '$dfd', expect: err('EINVAL'), note: 'VFIO_DETACH.ARGSZ_FLAGS (argsz)' });
    p.ioctl('VFIO_DEVICE_DETACH_IOMMUFD_PT', { flags: '0x80000000' }, { fd: '$dfd', expect: err('EINVAL'), note: 'VFIO_DETACH.ARGSZ_FLAGS (flags)' });
    p.ioctl('VFIO_DEVICE_DETACH_IOMMUFD_PT', {}, { fd: '$dfd', expect: ok, note: 'detach' });
  }),
  cdevTest(
    'vfio_attach_pasid',
    'VFIO_DEVICE_ATTACH_PASID on a device without PASID support is EOPNOTSUPP.',
    (p) => {
      bind(p, '$dfd', {}, ok, 'bind', 'devid');
      p.ioctl('VFIO_DEVICE_ATTACH_IOMMUFD_PT', { flags: 'VFIO_DEVICE_ATTACH_PASID', pt_id: '$ioas', pasid: 1 }, { fd: '$dfd', expect: err('EOPNOTSUPP'), note: 'VFIO_ATTACH.PASID_UNSUPPORTED' });
    },
    ['7.3'],
  ),
];
