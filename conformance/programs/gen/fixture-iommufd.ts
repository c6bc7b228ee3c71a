/**
 * Ports of FIXTURE(iommufd) and FIXTURE(change_process)
 * (tools/testing/selftests/iommu/iommufd.c).
 */
import { commandByName, commandMinSize, commandStructSize } from '../../../spec/uapi/index.ts';
import type { Profile } from '../../../spec/contract/types.ts';
import { BUFFER_SIZE, err, hex, MOCK_APERTURE_START, ok, PAGE_SIZE, va, type ProgramBuilder, type TestDef } from './dsl.ts';

const FILE = 'tools/testing/selftests/iommu/iommufd.c';
const BOTH: readonly Profile[] = ['6.12', '7.3'];

function iommufdTest(test: string, description: string, body: (p: ProgramBuilder) => void, kernels: readonly Profile[] = BOTH): TestDef {
  return {
    name: `iommufd.${test}`,
    description,
    source: { file: FILE, fixture: 'iommufd', test, kernels },
    build: (p) => {
      p.memAlloc();
      p.open();
      body(p);
      p.teardown();
    },
  };
}

/** TEST_LENGTH's commands, per profile (the 7.3 selftest adds the last four). */
const LENGTH_COMMANDS: readonly (readonly [string, readonly Profile[]])[] = [
  ['IOMMU_DESTROY', BOTH],
  ['IOMMU_GET_HW_INFO', BOTH],
  ['IOMMU_HWPT_ALLOC', BOTH],
  ['IOMMU_HWPT_INVALIDATE', BOTH],
  ['IOMMU_IOAS_ALLOC', BOTH],
  ['IOMMU_IOAS_IOVA_RANGES', BOTH],
  ['IOMMU_IOAS_ALLOW_IOVAS', BOTH],
  ['IOMMU_IOAS_MAP', BOTH],
  ['IOMMU_IOAS_COPY', BOTH],
  ['IOMMU_IOAS_UNMAP', BOTH],
  ['IOMMU_OPTION', BOTH],
  ['IOMMU_VFIO_IOAS', BOTH],
  ['IOMMU_IOAS_MAP_FILE', ['7.3']],
  ['IOMMU_VIOMMU_ALLOC', ['7.3']],
  ['IOMMU_VDEVICE_ALLOC', ['7.3']],
  ['IOMMU_IOAS_CHANGE_PROCESS', ['7.3']],
];

function sizes(profile: Profile, name: string): { min: number; size: number } {
  const c = commandByName(profile, name);
  const min = c ? commandMinSize(profile, c) : undefined;
  const size = c ? commandStructSize(profile, c) : undefined;
  if (min === undefined || size === undefined) throw new Error(`no layout for ${name} in ${profile}`);
  return { min, size };
}

/** TEST_LENGTH: short → EINVAL, long with a non-zero tail → E2BIG, exact and
 * long with a zero tail → the same result. */
function testLength(p: ProgramBuilder, cmd: string): void {
  const { min, size } = sizes(p.profile, cmd);
  const base = p.steps.length;
  p.ioctl(cmd, { size: min - 1 }, { tail: { hex: 'ff' }, expect: err('EINVAL'), note: `${cmd}: size = min - 1` });
  p.ioctl(cmd, { size: size + 1 }, { tail: { hex: 'ff' }, expect: err('E2BIG'), note: `${cmd}: size = sizeof + 1, non-zero tail` });
  p.ioctl(cmd, { size }, { note: `${cmd}: size = sizeof, zeroed struct` });
  p.ioctl(cmd, { size: size + 1 }, { tail: { hex: '00' }, expect: { sameAs: base + 3 }, note: `${cmd}: size = sizeof + 1, zero tail: as sizeof` });
}

export const IOMMUFD_TESTS: readonly TestDef[] = [
  iommufdTest('simple_close', 'Open /dev/iommu and close it.', () => {}),
  iommufdTest('cmd_fail', 'Destroy of id 0 is ENOENT, a NULL argument EFAULT, an ioctl number below the table ENOTTY.', (p) => {
    p.destroy(0, err('ENOENT'));
    p.ioctlArg('IOMMU_DESTROY', { kind: 'null' }, { expect: err('EFAULT') });
    // _IO(IOMMUFD_TYPE, IOMMUFD_CMD_BASE - 1) = (';' << 8) | 0x7f
    p.ioctlArg(0x3b7f, { kind: 'raw', bytes: { u32s: [8, 0] } }, { expect: err('ENOTTY'), note: '_IO(IOMMUFD_TYPE, IOMMUFD_CMD_BASE - 1) with a struct iommu_destroy' });
  }),
  {
    name: 'iommufd.cmd_length',
    description: 'TEST_LENGTH for every extensible command: size below the minimum EINVAL, a non-zero byte past the struct E2BIG, a zero tail accepted.',
    source: { file: FILE, fixture: 'iommufd', test: 'cmd_length', kernels: BOTH },
    build: (p) => {
      p.memAlloc();
      p.open();
      for (const [cmd, profiles] of LENGTH_COMMANDS) if (profiles.includes(p.profile)) testLength(p, cmd);
      p.teardown();
    },
  },
  iommufdTest('cmd_ex_fail', 'A longer IOMMU_DESTROY: zero tail works (ENOENT for id 0), non-zero tail E2BIG, exact size ENOENT, short EINVAL.', (p) => {
    p.ioctl('IOMMU_DESTROY', { size: 16, id: 0 }, { tail: { hex: '0000000000000000' }, expect: err('ENOENT') });
    p.ioctl('IOMMU_DESTROY', { size: 16, id: 0 }, { tail: { u64s: [1] }, expect: err('E2BIG') });
    p.ioctl('IOMMU_DESTROY', { size: 8, id: 0 }, { expect: err('ENOENT') });
    p.ioctl('IOMMU_DESTROY', { size: 7, id: 0 }, { expect: err('EINVAL') });
  }),
  iommufdTest('global_options', 'IOMMU_OPTION RLIMIT_MODE get/set (0 or 1; 2 is EINVAL); HUGE_PAGES is per-IOAS, so object 0 is ENOENT.', (p) => {
    const opt = (op: string, option: string, val64: string, expect: object, o: object = {}): void => {
      p.ioctl('IOMMU_OPTION', { option_id: option, op, val64 }, { expect: { ...expect, ...o } });
    };
    opt('IOMMU_OPTION_OP_GET', 'IOMMU_OPTION_RLIMIT_MODE', '1', ok, { out: { val64: 0 } });
    opt('IOMMU_OPTION_OP_SET', 'IOMMU_OPTION_RLIMIT_MODE', '1', ok);
    opt('IOMMU_OPTION_OP_SET', 'IOMMU_OPTION_RLIMIT_MODE', '2', err('EINVAL'));
    opt('IOMMU_OPTION_OP_GET', 'IOMMU_OPTION_RLIMIT_MODE', '2', ok, { out: { val64: 1 } });
    opt('IOMMU_OPTION_OP_SET', 'IOMMU_OPTION_RLIMIT_MODE', '0', ok);
    opt('IOMMU_OPTION_OP_GET', 'IOMMU_OPTION_HUGE_PAGES', '0', err('ENOENT'));
    opt('IOMMU_OPTION_OP_SET', 'IOMMU_OPTION_HUGE_PAGES', '0', err('ENOENT'));
  }),
  iommufdTest('simple_ioctls', 'VFIO_GET_API_VERSION and VFIO_CHECK_EXTENSION(VFIO_TYPE1v2_IOMMU) on /dev/iommu.', (p) => {
    p.ioctlArg('VFIO_GET_API_VERSION', { kind: 'int', value: 0 }, { expect: { ok: true, ret: 'VFIO_API_VERSION' } });
    p.ioctlArg('VFIO_CHECK_EXTENSION', { kind: 'int', value: 'VFIO_TYPE1v2_IOMMU' }, { expect: { ok: true, ret: 1 } });
  }),
  iommufdTest('unmap_cmd', 'VFIO_IOMMU_UNMAP_DMA: argsz 1 EINVAL, unknown flag EINVAL, no compat IOAS ENODEV.', (p) => {
    const f = { iova: hex(MOCK_APERTURE_START), size: String(PAGE_SIZE) };
    p.ioctl('VFIO_IOMMU_UNMAP_DMA', { ...f, argsz: 1 }, { expect: err('EINVAL') });
    p.ioctl('VFIO_IOMMU_UNMAP_DMA', { ...f, flags: '0x80000000' }, { expect: err('EINVAL') });
    p.ioctl('VFIO_IOMMU_UNMAP_DMA', f, { expect: err('ENODEV') });
  }),
  iommufdTest('map_cmd', 'VFIO_IOMMU_MAP_DMA: argsz 1 EINVAL, unknown flag EINVAL, no compat IOAS ENODEV.', (p) => {
    const f = { iova: hex(MOCK_APERTURE_START), size: String(PAGE_SIZE), vaddr: va('buf') };
    p.ioctl('VFIO_IOMMU_MAP_DMA', { ...f, argsz: 1 }, { expect: err('EINVAL') });
    p.ioctl('VFIO_IOMMU_MAP_DMA', { ...f, flags: '0x80000000' }, { expect: err('EINVAL') });
    p.ioctl('VFIO_IOMMU_MAP_DMA', { ...f, flags: 'VFIO_DMA_MAP_FLAG_READ|VFIO_DMA_MAP_FLAG_WRITE' }, { expect: err('ENODEV') });
  }),
  iommufdTest('info_cmd', 'VFIO_IOMMU_GET_INFO: argsz 1 EINVAL; no compat IOAS ENODEV.', (p) => {
    p.ioctl('VFIO_IOMMU_GET_INFO', { argsz: 1 }, { expect: err('EINVAL') });
    p.ioctl('VFIO_IOMMU_GET_INFO', {}, { expect: err('ENODEV') });
  }),
  iommufdTest('set_iommu_cmd', 'VFIO_SET_IOMMU without a compat IOAS is ENODEV for type1v2 and type1.', (p) => {
    p.ioctlArg('VFIO_SET_IOMMU', { kind: 'int', value: 'VFIO_TYPE1v2_IOMMU' }, { expect: err('ENODEV') });
    p.ioctlArg('VFIO_SET_IOMMU', { kind: 'int', value: 'VFIO_TYPE1_IOMMU' }, { expect: err('ENODEV') });
  }),
  iommufdTest('vfio_ioas', 'IOMMU_VFIO_IOAS: GET without one ENODEV, SET of id 0 ENOENT, SET/GET round trip, CLEAR.', (p) => {
    p.ioctl('IOMMU_VFIO_IOAS', { op: 'IOMMU_VFIO_IOAS_GET' }, { expect: err('ENODEV') });
    p.ioctl('IOMMU_VFIO_IOAS', { op: 'IOMMU_VFIO_IOAS_SET' }, { expect: err('ENOENT') });
    p.ioasAlloc('ioas');
    p.ioctl('IOMMU_VFIO_IOAS', { op: 'IOMMU_VFIO_IOAS_SET', ioas_id: '$ioas' }, { expect: ok });
    p.ioctl('IOMMU_VFIO_IOAS', { op: 'IOMMU_VFIO_IOAS_GET' }, { expect: { ok: true, out: { ioas_id: '$ioas' } } });
    p.ioctl('IOMMU_VFIO_IOAS', { op: 'IOMMU_VFIO_IOAS_CLEAR' }, { expect: ok });
    p.ioctl('IOMMU_VFIO_IOAS', { op: 'IOMMU_VFIO_IOAS_GET' }, { expect: err('ENODEV') });
  }),
];

/** FIXTURE(change_process) × account_none/user/mm, TEST_F basic (7.3). The
 * child-process half (accounting moving to another process) needs a second
 * process, which the contract does not have; the parent half is ported. */
export const CHANGE_PROCESS_TESTS: readonly TestDef[] = (['account_none', 'account_user', 'account_mm'] as const).map((variant, i) => ({
  name: `change_process.${variant}.basic`,
  description: 'IOMMU_IOAS_CHANGE_PROCESS fails with EINVAL while a non-file mapping exists and works with only file mappings.',
  source: { file: FILE, fixture: 'change_process', variant, test: 'basic', kernels: ['7.3'] as const },
  requires: { ops: ['set_process'] },
  build: (p: ProgramBuilder) => {
    p.memAlloc();
    p.open();
    p.step('set_process', { capIpcLock: false }, { note: 'drop_cap_ipc_lock' });
    if (i > 0) p.ioctl('IOMMU_OPTION', { option_id: 'IOMMU_OPTION_RLIMIT_MODE', op: 'IOMMU_OPTION_OP_SET', val64: String(i === 2 ? 1 : 0) }, { expect: ok });
    p.ioasAlloc('ioas');
    p.mockDomain('$ioas');
    p.map('$ioas', va('buf'), PAGE_SIZE, { bindIova: 'iova' });
    p.ioctl('IOMMU_IOAS_CHANGE_PROCESS', {}, { expect: err('EINVAL') });
    p.unmap('$ioas', '$iova', PAGE_SIZE);
    p.ioctl('IOMMU_IOAS_CHANGE_PROCESS', {}, { expect: ok, note: 'no mappings at all: nothing to move' });
    p.teardown();
    void BUFFER_SIZE;
  },
}));
