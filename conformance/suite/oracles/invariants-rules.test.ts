/**
 * Rules of the invariants oracle that came out of red-teaming it with faults
 * it had never seen: each small program is one the kernels answer without an
 * objection (the reference here; the lanes run the same rules at 500 cases),
 * and the catalogue mutant that breaks the rule draws the named property from
 * the invariants alone.
 */
import { describe, expect } from 'vitest';
import { check } from '../../../spec/clauses/check.ts';
import { errnoName } from '../../../spec/uapi/errno.ts';
import { MOCK_IOMMUPT_HUGE } from '../../../spec/uapi/constants.ts';
import { validateProgram } from '../../programs/load.ts';
import '../../mutants/register.ts';
import { replayProgram } from '../replay.ts';

type Step = Record<string, unknown>;

function program(name: string, steps: Step[], requires: Record<string, string[]> = {}, profiles = ['6.12', '7.3']) {
  const p = { format: 'iommufd-program/1', name, description: name, source: { kernels: profiles }, profiles, requires, steps };
  return validateProgram(JSON.parse(JSON.stringify(p)), name);
}

/** A context (`$fd`) and its IOAS (`$ioas`). */
const context: Step[] = [
  { op: 'open', node: 'iommu', bind: { fd: 'fd' } },
  { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_IOAS_ALLOC', fields: {}, bind: { ioas: 'out.out_ioas_id' } },
];

const open: Step[] = [...context, { op: 'mem_alloc', length: 16384, hugeAligned: true, bind: { buf: '.' } }];

/** A device behind `iommu`, its file (`$<name>_fd`) bound to `$fd`. */
function bound(name: string, iommu = 'vtd0'): Step[] {
  return [
    { op: 'device_create', spec: { iommu }, bind: { [name]: 'device' } },
    { op: 'open_device', device: `$${name}`, bind: { [`${name}_fd`]: 'fd' } },
    { op: 'ioctl', fd: `$${name}_fd`, cmd: 'VFIO_DEVICE_BIND_IOMMUFD', fields: { iommufd: '$fd' } },
  ];
}

/** A device behind `iommu` (`$d`), its file (`$dfd`) bound to `$fd` as `$d_id`. */
const bindTo = (iommu: string): Step[] => [
  { op: 'device_create', spec: { iommu }, bind: { d: 'device' } },
  { op: 'open_device', device: '$d', bind: { dfd: 'fd' } },
  { op: 'ioctl', fd: '$dfd', cmd: 'VFIO_DEVICE_BIND_IOMMUFD', fields: { iommufd: '$fd' }, bind: { d_id: 'out.out_devid' } },
];
const needs = { ops: ['device_create', 'open_device'], commands: ['VFIO_DEVICE_BIND_IOMMUFD', 'IOMMU_GET_HW_INFO', 'IOMMU_HWPT_ALLOC'] };
/** A mock device attached to `$ioas`: `$idev`, on `$hwpt`. */
const mockDomain: Step = { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_TEST_CMD', fields: { op: 'IOMMU_TEST_OP_MOCK_DOMAIN', id: '$ioas', mock_domain: {} }, bind: { idev: 'out.mock_domain.out_idev_id', hwpt: 'out.mock_domain.out_hwpt_id' } };

function device(name: string, pt: string): Step[] {
  return [...bound(name), { op: 'ioctl', fd: `$${name}_fd`, cmd: 'VFIO_DEVICE_ATTACH_IOMMUFD_PT', fields: { pt_id: pt } }];
}

/** A huge-aligned buffer of `length` bytes (`$buf`), a context (`$fd`) and its IOAS (`$ioas`). */
function withBuffer(length: number): Step[] {
  return [{ op: 'mem_alloc', length, hugeAligned: true, bind: { buf: '.' } }, ...context];
}

/**
 * A page mapped in one IOAS, seven empty IOASes beside it, and a bound,
 * unattached device (steps 1 to 14): the step's random sample of an
 * unattached device's reach picks an empty IOAS, so an objection at step 15
 * comes from the probe at the IOAS the attach named.
 */
const beforeAttach: Step[] = [
  ...open,
  ...Array.from({ length: 7 }, (): Step => ({ op: 'ioctl', fd: '$fd', cmd: 'IOMMU_IOAS_ALLOC', fields: {} })),
  { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_IOAS_MAP', fields: { ioas_id: '$ioas', flags: 'IOMMU_IOAS_MAP_FIXED_IOVA|IOMMU_IOAS_MAP_READABLE|IOMMU_IOAS_MAP_WRITEABLE', user_va: '$buf.va', length: '4096', iova: '0x100000' } },
  { op: 'device_create', spec: { iommu: 'vtd0' }, bind: { d: 'device' } },
  { op: 'open_device', device: '$d', bind: { d_fd: 'fd' } },
  { op: 'ioctl', fd: '$d_fd', cmd: 'VFIO_DEVICE_BIND_IOMMUFD', fields: { iommufd: '$fd' } },
];

/** The invariants' objections at step 15 on the fault and on the reference. */
async function atAttach(p: ReturnType<typeof program>, fault: string): Promise<{ broken: string[]; reference: readonly unknown[]; text: string }> {
  const broken = await replayProgram(p, { impl: `conformance/mutants/unseen/${fault}.ts`, profile: '7.3', oracle: 'invariants' });
  const onRef = await replayProgram(p, { impl: 'ref', profile: '7.3', oracle: 'invariants' });
  return { broken: broken.objections.filter((o) => o.step === 15).map((o) => o.property), reference: onRef.objections, text: `${broken.text}\n${onRef.text}` };
}

/** The invariants' objections on the mutant (a catalogue name, or a fixture's path) and on the reference. */
async function judge(p: ReturnType<typeof program>, mutant: string): Promise<{ broken: string[]; reference: string[]; text: string }> {
  const broken = await replayProgram(p, { impl: mutant.includes('/') || mutant.includes(':') ? mutant : `mutant:${mutant}`, profile: '7.3', oracle: 'invariants' });
  const onRef = await replayProgram(p, { impl: 'ref', profile: '7.3', oracle: 'invariants' });
  return { broken: broken.objections.map((o) => o.property), reference: onRef.objections.map((o) => o.property), text: `${broken.text}\n${onRef.text}` };
}

/** `judge` of an unseen fault under a profile of the caller's choice. */
async function judgeOn(p: ReturnType<typeof program>, fault: string, profile: '6.12' | '7.3'): Promise<{ broken: string[]; reference: string[]; text: string }> {
  const broken = await replayProgram(p, { impl: `conformance/mutants/unseen/${fault}.ts`, profile, oracle: 'invariants' });
  const onRef = await replayProgram(p, { impl: 'ref', profile, oracle: 'invariants' });
  return { broken: broken.objections.map((o) => o.property), reference: onRef.objections.map((o) => o.property), text: `${broken.text}\n${onRef.text}` };
}

describe('the invariants judge what an answer claims, not only what DMA shows', () => {
  check('suite.invariants.failed-command-copies-nothing', async () => {
    // UNMAP of a range nothing maps fails (ENOENT); the kernel copies nothing back (iommufd_ucmd_respond runs on success).
    const p = program('failed-unmap', [...open, { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_IOAS_UNMAP', fields: { ioas_id: '$ioas', iova: '0x600000', length: '4096' }, expect: { errno: ['ENOENT'] } }]);
    const r = await judge(p, 'unmap-length-copied-on-failure');
    expect(r.broken, r.text).toContain('invariants.abi-hygiene');
    expect(r.reference, r.text).toEqual([]);
  });

  check('suite.invariants.iova-ranges-count-is-the-total', async () => {
    // No room for the one range: EMSGSIZE with num_iovas 1, the total.
    const p = program('iova-ranges-emsgsize', [...open, { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_IOAS_IOVA_RANGES', fields: { ioas_id: '$ioas', num_iovas: 0, allowed_iovas: '0' }, expect: { errno: ['EMSGSIZE'] } }]);
    const r = await judge(p, 'iova-ranges-count-not-copied');
    expect(r.broken, r.text).toContain('invariants.abi-hygiene');
    expect(r.reference, r.text).toEqual([]);
  });

  check('suite.invariants.attach-stays-in-its-ioas', async () => {
    // d1's attach to IOAS A builds A's automatic HWPT; d2's attach to IOAS B must not land on it.
    const p = program(
      'attach-by-ioas',
      [...open, { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_IOAS_ALLOC', fields: {}, bind: { other: 'out.out_ioas_id' } }, ...device('d1', '$ioas'), ...device('d2', '$other')],
      { ops: ['device_create', 'open_device'], commands: ['VFIO_DEVICE_BIND_IOMMUFD', 'VFIO_DEVICE_ATTACH_IOMMUFD_PT'] },
    );
    const r = await judge(p, 'auto-domain-of-another-ioas');
    expect(r.broken, r.text).toContain('invariants.group-isolation');
    expect(r.reference, r.text).toEqual([]);
  });

  check('suite.invariants.bind-eperm-needs-an-owner', async () => {
    // d1 bound in context a, its file closed (unbound): d2 of the same group binds to context b.
    const p = program(
      'group-owner-released',
      [
        { op: 'open', node: 'iommu', bind: { a: 'fd' } },
        { op: 'open', node: 'iommu', bind: { b: 'fd' } },
        { op: 'device_create', spec: { iommu: 'vtd0' }, bind: { d1: 'device', g: 'group' } },
        { op: 'device_create', spec: { iommu: 'vtd0', group: '$g' }, bind: { d2: 'device' } },
        { op: 'open_device', device: '$d1', bind: { f1: 'fd' } },
        { op: 'ioctl', fd: '$f1', cmd: 'VFIO_DEVICE_BIND_IOMMUFD', fields: { iommufd: '$a' } },
        { op: 'close', fd: '$f1' },
        { op: 'open_device', device: '$d2', bind: { f2: 'fd' } },
        { op: 'ioctl', fd: '$f2', cmd: 'VFIO_DEVICE_BIND_IOMMUFD', fields: { iommufd: '$b' }, expect: { ok: true } },
      ],
      { ops: ['device_create', 'open_device'], commands: ['VFIO_DEVICE_BIND_IOMMUFD'] },
    );
    const r = await judge(p, 'conformance/mutants/fixtures/keeps-group-owner.ts');
    expect(r.broken, r.text).toContain('invariants.lifetime');
    expect(r.reference, r.text).toEqual([]);
  });

  check('suite.invariants.bind-einval-needs-an-open-device', async () => {
    // d1 bound in context a; d2 of its group refused by context b (EPERM), d1's file closed: d2's
    // bind to b must go through, and a refusal with EINVAL says the first one left d2 counted open.
    const p = program(
      'bind-after-refused-bind',
      [
        { op: 'open', node: 'iommu', bind: { a: 'fd' } },
        { op: 'open', node: 'iommu', bind: { b: 'fd' } },
        { op: 'device_create', spec: { iommu: 'vtd0' }, bind: { d1: 'device', g: 'group' } },
        { op: 'device_create', spec: { iommu: 'vtd0', group: '$g' }, bind: { d2: 'device' } },
        { op: 'open_device', device: '$d1', bind: { f1: 'fd' } },
        { op: 'ioctl', fd: '$f1', cmd: 'VFIO_DEVICE_BIND_IOMMUFD', fields: { iommufd: '$a' } },
        { op: 'open_device', device: '$d2', bind: { f2: 'fd' } },
        { op: 'ioctl', fd: '$f2', cmd: 'VFIO_DEVICE_BIND_IOMMUFD', fields: { iommufd: '$b' }, expect: { errno: ['EPERM'] } },
        { op: 'close', fd: '$f1' },
        { op: 'ioctl', fd: '$f2', cmd: 'VFIO_DEVICE_BIND_IOMMUFD', fields: { iommufd: '$b' }, expect: { ok: true } },
      ],
      { ops: ['device_create', 'open_device'], commands: ['VFIO_DEVICE_BIND_IOMMUFD'] },
    );
    const r = await judge(p, 'conformance/mutants/unseen/cdev-open-count-kept-on-bind-fail.ts');
    expect(r.broken, r.text).toContain('invariants.lifetime');
    expect(r.text).toMatch(/failed with EINVAL, but no file has the device bound/);
    expect(r.reference, r.text).toEqual([]);
  });

  check('suite.invariants.end-destroys-what-nothing-holds', async () => {
    // A COPY from a range the source IOAS does not map fails (iopt_get_pages: ENOENT); nothing else
    // happens. At the end of the case the source, held by nothing, must be destroyable.
    const p = program('copy-from-hole', [
      ...open,
      { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_IOAS_ALLOC', fields: {}, bind: { dst: 'out.out_ioas_id' } },
      { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_IOAS_COPY', fields: { flags: 'IOMMU_IOAS_MAP_READABLE', dst_ioas_id: '$dst', src_ioas_id: '$ioas', length: '4096', dst_iova: '0', src_iova: '0x100000' }, expect: { errno: ['ENOENT'] } },
    ]);
    const r = await judge(p, 'conformance/mutants/unseen/copy-get-pages-fail-keeps-src.ts');
    expect(r.broken, r.text).toContain('invariants.lifetime');
    expect(r.text).toMatch(/at the end of the case, DESTROY of IOAS \d+ failed with EBUSY/);
    expect(r.reference, r.text).toEqual([]);
  });

  check('suite.invariants.end-destroys-after-files', async () => {
    // A device behind vtd1 (no snoop control) on the compat IOAS, and VFIO_DMA_CC_IOMMU asked (0);
    // the device's file stays open to the end of the case, holding the IOAS until then. Once every
    // file but the context is closed nothing holds it, and its DESTROY must succeed.
    const p = program(
      'cc-check-then-close',
      [
        ...context,
        { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_VFIO_IOAS', fields: { op: 'IOMMU_VFIO_IOAS_SET', ioas_id: '$ioas' } },
        ...bound('a', 'vtd1'),
        { op: 'ioctl', fd: '$a_fd', cmd: 'VFIO_DEVICE_ATTACH_IOMMUFD_PT', fields: { pt_id: '$ioas' } },
        { op: 'ioctl', fd: '$fd', cmd: 'VFIO_CHECK_EXTENSION', arg: { kind: 'int', value: 'VFIO_DMA_CC_IOMMU' }, expect: { ok: true, ret: 0 } },
      ],
      { ops: ['device_create', 'open_device'], commands: ['VFIO_DEVICE_BIND_IOMMUFD', 'VFIO_DEVICE_ATTACH_IOMMUFD_PT', 'IOMMU_VFIO_IOAS', 'VFIO_CHECK_EXTENSION'] },
    );
    const r = await judge(p, 'conformance/mutants/unseen/compat-cc-early-return-keeps-ioas-ref.ts');
    expect(r.broken, r.text).toContain('invariants.lifetime');
    expect(r.text).toMatch(/once every device, access and VM was closed, DESTROY of IOAS \d+ failed with EBUSY/);
    expect(r.reference, r.text).toEqual([]);
  });

  check('suite.invariants.rlimit-mode-needs-an-empty-context', async () => {
    // An IOAS exists: the accounting mode can no longer change (EBUSY).
    const p = program('rlimit-mode-with-ioas', [
      ...open,
      { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_OPTION', fields: { option_id: 'IOMMU_OPTION_RLIMIT_MODE', op: 'IOMMU_OPTION_OP_SET', object_id: 0, val64: '1' }, expect: { errno: ['EBUSY'] } },
    ]);
    const r = await judge(p, 'conformance/mutants/unseen/rlimit-mode-set-nonempty.ts');
    expect(r.broken, r.text).toContain('invariants.accounting');
    expect(r.text).toMatch(/SET of RLIMIT_MODE succeeded in a context that holds IOAS/);
    expect(r.reference, r.text).toEqual([]);
  });

  check('suite.invariants.no-compat-ioas-is-enodev', async () => {
    // The compat IOAS is destroyed; a new IOAS takes its id: the context has no compat IOAS.
    const p = program('compat-ioas-destroyed', [
      ...open,
      { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_VFIO_IOAS', fields: { op: 'IOMMU_VFIO_IOAS_SET', ioas_id: '$ioas' } },
      { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_DESTROY', fields: { id: '$ioas' } },
      { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_IOAS_ALLOC', fields: {}, bind: { again: 'out.out_ioas_id' } },
      { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_VFIO_IOAS', fields: { op: 'IOMMU_VFIO_IOAS_GET' }, expect: { errno: ['ENODEV'] } },
    ]);
    const r = await judge(p, 'conformance/mutants/fixtures/compat-ioas-by-id.ts');
    expect(r.broken, r.text).toContain('invariants.lifetime');
    expect(r.reference, r.text).toEqual([]);
  });

  check('suite.invariants.access-needs-the-permission', async () => {
    // A write-only area: an access may write it, not read it (check_area_prot: EPERM).
    const p = program(
      'access-read-write-only',
      [
        ...open,
        { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_IOAS_MAP', fields: { ioas_id: '$ioas', flags: 'IOMMU_IOAS_MAP_FIXED_IOVA|IOMMU_IOAS_MAP_WRITEABLE', user_va: '$buf.va', length: '8192', iova: '0x100000' } },
        { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_TEST_CMD', fields: { op: 'IOMMU_TEST_OP_CREATE_ACCESS', id: '$ioas', create_access: { flags: 0 } }, bind: { acc: 'out.create_access.out_access_fd' } },
        { op: 'mem_alloc', length: 4096, bind: { into: '.' } },
        { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_TEST_CMD', fields: { op: 'IOMMU_TEST_OP_ACCESS_RW', id: '$acc', access_rw: { iova: '0x100000', length: '16', uptr: '$into.va', flags: 0 } }, expect: { errno: ['EPERM'] } },
      ],
      { testOps: ['IOMMU_TEST_OP_CREATE_ACCESS', 'IOMMU_TEST_OP_ACCESS_RW'] },
    );
    const r = await judge(p, 'access-read-side-unchecked');
    expect(r.broken, r.text).toContain('invariants.dma-confinement');
    expect(r.reference, r.text).toEqual([]);
  });

  check('suite.invariants.unmap-all-never-enoent', async () => {
    // Unmap-all of an IOAS with nothing mapped succeeds (iopt_unmap_all turns ENOENT into 0).
    const p = program('unmap-all-empty', [...open, { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_IOAS_UNMAP', fields: { ioas_id: '$ioas', iova: '0', length: '0xffffffffffffffff' }, expect: { ok: true } }]);
    const r = await judge(p, 'conformance/mutants/unseen/unmap-all-empty-enoent.ts');
    expect(r.broken, r.text).toContain('invariants.abi-hygiene');
    expect(r.reference, r.text).toEqual([]);
  });

  check('suite.invariants.zero-length-unmap-refused', async () => {
    // Length 0 is no range (iopt_unmap_iova: EINVAL), at IOVA 0 too, where a wrapped length would empty the IOAS.
    const p = program('unmap-zero-length', [
      ...open,
      { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_IOAS_MAP', fields: { ioas_id: '$ioas', flags: 'IOMMU_IOAS_MAP_FIXED_IOVA|IOMMU_IOAS_MAP_READABLE|IOMMU_IOAS_MAP_WRITEABLE', user_va: '$buf.va', length: '8192', iova: '0x100000' } },
      { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_IOAS_UNMAP', fields: { ioas_id: '$ioas', iova: '0', length: '0' }, expect: { errno: ['EINVAL'] } },
    ]);
    const r = await judge(p, 'conformance/mutants/unseen/unmap-zero-length-wraps.ts');
    expect(r.broken, r.text).toContain('invariants.abi-hygiene');
    expect(r.reference, r.text).toEqual([]);
  });

  check('suite.invariants.kvm-takes-vfio-files-only', async () => {
    // An iommufd is no VFIO file: KVM_DEV_VFIO_FILE_ADD refuses it (kvm_vfio_file_is_valid, EINVAL).
    const p = program('kvm-add-iommufd', [...open, { op: 'kvm_create', bind: { vm: 'vm' } }, { op: 'kvm_vfio_add', vm: '$vm', fd: '$fd', expect: { ok: false } }], { ops: ['kvm_create', 'kvm_vfio_add'] });
    const r = await judge(p, 'conformance/mutants/unseen/kvm-add-skips-file-valid.ts');
    expect(r.broken, r.text).toContain('invariants.abi-hygiene');
    expect(r.reference, r.text).toEqual([]);
  });

  check('suite.invariants.answer-within-declared-size', async () => {
    // An older caller's 32-byte iommu_hw_info ends before out_capabilities: nothing is written there.
    const p = program(
      'hw-info-older-caller',
      [
        { op: 'open', node: 'iommu', bind: { fd: 'fd' } },
        { op: 'device_create', spec: { iommu: 'vtd0' }, bind: { d: 'device' } },
        { op: 'open_device', device: '$d', bind: { dfd: 'fd' } },
        { op: 'ioctl', fd: '$dfd', cmd: 'VFIO_DEVICE_BIND_IOMMUFD', fields: { iommufd: '$fd' }, bind: { dev: 'out.out_devid' } },
        { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_GET_HW_INFO', fields: { size: 32, dev_id: '$dev', data_len: 0 }, expect: { ok: true } },
      ],
      { ops: ['device_create', 'open_device'], commands: ['VFIO_DEVICE_BIND_IOMMUFD', 'IOMMU_GET_HW_INFO'] },
    );
    const r = await judge(p, 'conformance/mutants/unseen/ucmd-respond-full-size.ts');
    expect(r.broken, r.text).toContain('invariants.abi-hygiene');
    expect(r.reference, r.text).toEqual([]);
  });

  check('suite.invariants.hw-info-writes-within-data-len', async () => {
    // An 8-byte data_len in a 24-byte buffer: the driver's data (longer) fills 8 bytes, the rest stays as it was.
    const p = program(
      'hw-info-short-buffer',
      [
        { op: 'open', node: 'iommu', bind: { fd: 'fd' } },
        { op: 'device_create', spec: { iommu: 'vtd0' }, bind: { d: 'device' } },
        { op: 'open_device', device: '$d', bind: { dfd: 'fd' } },
        { op: 'ioctl', fd: '$dfd', cmd: 'VFIO_DEVICE_BIND_IOMMUFD', fields: { iommufd: '$fd' }, bind: { dev: 'out.out_devid' } },
        { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_GET_HW_INFO', fields: { dev_id: '$dev', data_len: 8, data_uptr: { data: { hex: 'a5'.repeat(24) } } }, expect: { ok: true } },
      ],
      { ops: ['device_create', 'open_device'], commands: ['VFIO_DEVICE_BIND_IOMMUFD', 'IOMMU_GET_HW_INFO'] },
    );
    const r = await judge(p, 'conformance/mutants/unseen/hw-info-copy-len-unclamped.ts');
    expect(r.broken, r.text).toContain('invariants.abi-hygiene');
    expect(r.reference, r.text).toEqual([]);
  });

  check('suite.invariants.writable-copy-needs-writable-pages', async () => {
    // Pages mapped READABLE only are pinned read-only: a WRITEABLE copy of them is EPERM (iopt_insert_area).
    const p = program('copy-writable-over-read-only', [
      ...open,
      { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_IOAS_MAP', fields: { ioas_id: '$ioas', flags: 'IOMMU_IOAS_MAP_FIXED_IOVA|IOMMU_IOAS_MAP_READABLE', user_va: '$buf.va', length: '8192', iova: '0x100000' } },
      { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_IOAS_COPY', fields: { flags: 'IOMMU_IOAS_MAP_FIXED_IOVA|IOMMU_IOAS_MAP_READABLE|IOMMU_IOAS_MAP_WRITEABLE', src_ioas_id: '$ioas', dst_ioas_id: '$ioas', src_iova: '0x100000', dst_iova: '0x200000', length: '8192' }, expect: { errno: ['EPERM'] } },
    ]);
    const r = await judge(p, 'conformance/mutants/unseen/copy-writable-over-readonly-pages.ts');
    expect(r.broken, r.text).toContain('invariants.dma-confinement');
    expect(r.reference, r.text).toEqual([]);
  });

  check('suite.invariants.type1v2-never-cuts', async () => {
    // Under TYPE1v2 large IOPTEs stay on: an unmap of one page inside a 16 KiB mapping is ENOENT.
    const p = program('v2-partial-unmap', [
      ...open,
      { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_VFIO_IOAS', fields: { op: 'IOMMU_VFIO_IOAS_SET', ioas_id: '$ioas' } },
      { op: 'ioctl', fd: '$fd', cmd: 'VFIO_SET_IOMMU', arg: { kind: 'int', value: 'VFIO_TYPE1v2_IOMMU' } },
      { op: 'ioctl', fd: '$fd', cmd: 'VFIO_IOMMU_MAP_DMA', fields: { flags: 'VFIO_DMA_MAP_FLAG_READ|VFIO_DMA_MAP_FLAG_WRITE', vaddr: '$buf.va', iova: '0x100000', size: '16384' } },
      { op: 'ioctl', fd: '$fd', cmd: 'VFIO_IOMMU_UNMAP_DMA', fields: { flags: 0, iova: '0x101000', size: '4096' }, expect: { errno: ['ENOENT'] } },
    ]);
    const r = await judge(p, 'conformance/mutants/unseen/compat-unmap-cuts-in-v2.ts');
    expect(r.broken, r.text).toContain('invariants.dma-confinement');
    expect(r.reference, r.text).toEqual([]);
  });

  check('suite.invariants.large-pages-stay-under-mapped-domains', async () => {
    // A domain maps the IOAS's area: huge pages cannot go off (EINVAL).
    const p = program(
      'huge-pages-off-with-mappings',
      [
        ...open,
        ...device('d', '$ioas'),
        { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_IOAS_MAP', fields: { ioas_id: '$ioas', flags: 'IOMMU_IOAS_MAP_FIXED_IOVA|IOMMU_IOAS_MAP_READABLE|IOMMU_IOAS_MAP_WRITEABLE', user_va: '$buf.va', length: '16384', iova: '0x100000' } },
        { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_OPTION', fields: { option_id: 'IOMMU_OPTION_HUGE_PAGES', op: 'IOMMU_OPTION_OP_SET', object_id: '$ioas', val64: '0' }, expect: { errno: ['EINVAL'] } },
      ],
      { ops: ['device_create', 'open_device'], commands: ['VFIO_DEVICE_BIND_IOMMUFD', 'VFIO_DEVICE_ATTACH_IOMMUFD_PT'] },
    );
    const r = await judge(p, 'conformance/mutants/unseen/ioas-option-disable-with-mappings.ts');
    expect(r.broken, r.text).toContain('invariants.dma-confinement');
    expect(r.reference, r.text).toEqual([]);
  });

  check('suite.invariants.get-info-pad-is-zero', async () => {
    // argsz holds the capability chain, so cap_offset is set: only pad can show a stack leak (info = {}).
    const p = program('get-info-pad', [
      ...open,
      { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_VFIO_IOAS', fields: { op: 'IOMMU_VFIO_IOAS_SET', ioas_id: '$ioas' } },
      { op: 'ioctl', fd: '$fd', cmd: 'VFIO_SET_IOMMU', arg: { kind: 'int', value: 'VFIO_TYPE1v2_IOMMU' } },
      { op: 'ioctl', fd: '$fd', cmd: 'VFIO_IOMMU_GET_INFO', fields: { argsz: 256 }, tail: { hex: '00'.repeat(232) }, expect: { ok: true } },
    ]);
    const r = await judge(p, 'conformance/mutants/unseen/compat-info-stack-leak.ts');
    expect(r.broken, r.text).toContain('invariants.abi-hygiene');
    expect(r.text).toMatch(/answered pad 0x/);
    expect(r.reference, r.text).toEqual([]);
  });

  check('suite.invariants.access-keeps-its-ioas', async () => {
    // The move to an IOAS whose area sits 16 bytes into a page is refused (EADDRINUSE): the access stays on its IOAS.
    const p = program(
      'access-replace-refused',
      [
        ...open,
        { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_IOAS_ALLOC', fields: {}, bind: { other: 'out.out_ioas_id' } },
        { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_IOAS_MAP', fields: { ioas_id: '$ioas', flags: 'IOMMU_IOAS_MAP_FIXED_IOVA|IOMMU_IOAS_MAP_READABLE|IOMMU_IOAS_MAP_WRITEABLE', user_va: '$buf.va', length: '8192', iova: '0x100000' } },
        { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_IOAS_MAP', fields: { ioas_id: '$other', flags: 'IOMMU_IOAS_MAP_FIXED_IOVA|IOMMU_IOAS_MAP_READABLE|IOMMU_IOAS_MAP_WRITEABLE', user_va: '$buf.va', length: '8192', iova: '0x200010' } },
        { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_TEST_CMD', fields: { op: 'IOMMU_TEST_OP_CREATE_ACCESS', id: '$ioas', create_access: { flags: 'MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES' } }, bind: { acc: 'out.create_access.out_access_fd' } },
        { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_TEST_CMD', fields: { op: 'IOMMU_TEST_OP_ACCESS_REPLACE_IOAS', id: '$acc', access_replace_ioas: { ioas_id: '$other' } }, expect: { errno: ['EADDRINUSE'] } },
        { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_TEST_CMD', fields: { op: 'IOMMU_TEST_OP_ACCESS_PAGES', id: '$acc', access_pages: { iova: '0x100000', length: '4096', uptr: '$buf.va', flags: 0 } }, expect: { ok: true } },
      ],
      { testOps: ['IOMMU_TEST_OP_CREATE_ACCESS', 'IOMMU_TEST_OP_ACCESS_REPLACE_IOAS', 'IOMMU_TEST_OP_ACCESS_PAGES'] },
    );
    const r = await judge(p, 'conformance/mutants/unseen/access-replace-unwind-drops-ioas.ts');
    expect(r.broken, r.text).toContain('invariants.lifetime');
    expect(r.reference, r.text).toEqual([]);
  });

  check('suite.invariants.iova-ranges-are-the-holes', async () => {
    // d2's automatic domain (amd0) holds the IOAS; d1 (vtd0) cannot join a foreign domain (EINVAL),
    // so its regions were never reserved: IOVA_RANGES is the holes of the domain's aperture and d2's regions.
    const p = program(
      'attach-refused-ranges',
      [
        ...open,
        { op: 'device_create', spec: { iommu: 'amd0' }, bind: { d2: 'device' } },
        { op: 'open_device', device: '$d2', bind: { d2_fd: 'fd' } },
        { op: 'ioctl', fd: '$d2_fd', cmd: 'VFIO_DEVICE_BIND_IOMMUFD', fields: { iommufd: '$fd' } },
        { op: 'ioctl', fd: '$d2_fd', cmd: 'VFIO_DEVICE_ATTACH_IOMMUFD_PT', fields: { pt_id: '$ioas' }, bind: { hwpt: 'out.pt_id' } },
        { op: 'device_create', spec: { iommu: 'vtd0', reservedRegions: [{ start: '0x8000000', last: '0x80fffff' }] }, bind: { d1: 'device' } },
        { op: 'open_device', device: '$d1', bind: { d1_fd: 'fd' } },
        { op: 'ioctl', fd: '$d1_fd', cmd: 'VFIO_DEVICE_BIND_IOMMUFD', fields: { iommufd: '$fd' } },
        { op: 'ioctl', fd: '$d1_fd', cmd: 'VFIO_DEVICE_ATTACH_IOMMUFD_PT', fields: { pt_id: '$hwpt' }, expect: { errno: ['EINVAL'] } },
        { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_IOAS_IOVA_RANGES', fields: { ioas_id: '$ioas', num_iovas: 8, allowed_iovas: { room: 128 } }, expect: { ok: true } },
      ],
      { ops: ['device_create', 'open_device'], commands: ['VFIO_DEVICE_BIND_IOMMUFD', 'VFIO_DEVICE_ATTACH_IOMMUFD_PT', 'IOMMU_IOAS_IOVA_RANGES'] },
    );
    const r = await judge(p, 'conformance/mutants/unseen/attach-fail-keeps-resv.ts');
    expect(r.broken, r.text).toContain('invariants.abi-hygiene');
    expect(r.text).toMatch(/expected exactly the holes/);
    expect(r.reference, r.text).toEqual([]);
  });

  check('suite.invariants.iova-ranges-holes-after-a-replace-in-the-ioas', async () => {
    // x's replace onto a dirty-tracking HWPT of its own IOAS is refused (EINVAL), and err_unresv
    // drops x's MSI window from that IOAS while x stays attached (both kernels): the ranges are the
    // holes with or without x's regions, and are still judged exactly: a first range a page short is not one of them.
    const p = program(
      'replace-in-ioas-ranges',
      [
        ...open,
        { op: 'device_create', spec: { iommu: 'vtd0', dirtyTracking: false }, bind: { x: 'device' } },
        { op: 'open_device', device: '$x', bind: { x_fd: 'fd' } },
        { op: 'ioctl', fd: '$x_fd', cmd: 'VFIO_DEVICE_BIND_IOMMUFD', fields: { iommufd: '$fd' } },
        { op: 'ioctl', fd: '$x_fd', cmd: 'VFIO_DEVICE_ATTACH_IOMMUFD_PT', fields: { pt_id: '$ioas' }, expect: { ok: true } },
        { op: 'device_create', spec: { iommu: 'vtd0' }, bind: { y: 'device' } },
        { op: 'open_device', device: '$y', bind: { y_fd: 'fd' } },
        { op: 'ioctl', fd: '$y_fd', cmd: 'VFIO_DEVICE_BIND_IOMMUFD', fields: { iommufd: '$fd' }, bind: { y_id: 'out.out_devid' } },
        { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_HWPT_ALLOC', fields: { dev_id: '$y_id', pt_id: '$ioas', flags: 'IOMMU_HWPT_ALLOC_DIRTY_TRACKING' }, bind: { dirty: 'out.out_hwpt_id' }, expect: { ok: true } },
        { op: 'ioctl', fd: '$x_fd', cmd: 'VFIO_DEVICE_ATTACH_IOMMUFD_PT', fields: { pt_id: '$dirty' }, expect: { errno: ['EINVAL'] } },
        { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_IOAS_IOVA_RANGES', fields: { ioas_id: '$ioas', num_iovas: 8, allowed_iovas: { room: 128 } }, expect: { ok: true } },
      ],
      { ops: ['device_create', 'open_device'], commands: ['VFIO_DEVICE_BIND_IOMMUFD', 'VFIO_DEVICE_ATTACH_IOMMUFD_PT', 'IOMMU_HWPT_ALLOC', 'IOMMU_IOAS_IOVA_RANGES'] },
    );
    const r = await judge(p, 'lie:iova-ranges-entry-narrowed');
    expect(r.broken, r.text).toContain('invariants.abi-hygiene');
    expect(r.text).toMatch(/expected exactly the holes .* or those holes with the regions of the device of a group that tried a replace/);
    expect(r.reference, r.text).toEqual([]);
  });

  check('suite.invariants.allow-iovas-refusal-keeps-the-ranges', async () => {
    // Allowed: one page at 1 MiB. ALLOW_IOVAS over a reserved range is refused (EADDRINUSE) and the
    // old range stays: an automatic MAP lands at 1 MiB, not beside the reservation.
    const p = program(
      'allow-iovas-refused',
      [
        ...open,
        { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_IOAS_ALLOW_IOVAS', fields: { ioas_id: '$ioas', num_iovas: 1, allowed_iovas: { data: { hex: '0000100000000000' + 'ffff100000000000' } } } },
        { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_TEST_CMD', fields: { op: 'IOMMU_TEST_OP_ADD_RESERVED', id: '$ioas', add_reserved: { start: '0x80000000', length: '8192' } } },
        { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_IOAS_ALLOW_IOVAS', fields: { ioas_id: '$ioas', num_iovas: 1, allowed_iovas: { data: { hex: '00f0ff7f00000000' + 'ff2f008000000000' } } }, expect: { errno: ['EADDRINUSE'] } },
        { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_IOAS_MAP', fields: { ioas_id: '$ioas', flags: 'IOMMU_IOAS_MAP_READABLE|IOMMU_IOAS_MAP_WRITEABLE', user_va: '$buf.va', length: '4096', iova: '0' }, expect: { ok: true } },
      ],
      { testOps: ['IOMMU_TEST_OP_ADD_RESERVED'], commands: ['IOMMU_IOAS_ALLOW_IOVAS'] },
    );
    const r = await judge(p, 'conformance/mutants/unseen/allow-iovas-no-swap-back.ts');
    expect(r.broken, r.text).toContain('invariants.dma-confinement');
    expect(r.reference, r.text).toEqual([]);
  });

  check('suite.invariants.access-writes-only-writable-memory', async () => {
    // A writable area, its second page made read-only afterwards; no domain pins it: a slow-path
    // access write across the first two pages must pin the second with FOLL_WRITE, and fail (EFAULT).
    const p = program(
      'access-write-read-only-page',
      [
        ...open,
        { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_IOAS_MAP', fields: { ioas_id: '$ioas', flags: 'IOMMU_IOAS_MAP_FIXED_IOVA|IOMMU_IOAS_MAP_READABLE|IOMMU_IOAS_MAP_WRITEABLE', user_va: '$buf.va', length: '16384', iova: '0x100000' } },
        { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_TEST_CMD', fields: { op: 'IOMMU_TEST_OP_CREATE_ACCESS', id: '$ioas', create_access: { flags: 0 } }, bind: { acc: 'out.create_access.out_access_fd' } },
        { op: 'mem_protect', buffer: '$buf.buffer', offset: 4096, length: 4096, prot: 'r' },
        { op: 'mem_alloc', length: 4096, bind: { from: '.' } },
        { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_TEST_CMD', fields: { op: 'IOMMU_TEST_OP_ACCESS_RW', id: '$acc', access_rw: { iova: '0x100ffc', length: '8', uptr: '$from.va', flags: 'MOCK_ACCESS_RW_WRITE|MOCK_ACCESS_RW_SLOW_PATH' } }, expect: { errno: ['EFAULT'] } },
      ],
      { ops: ['mem_protect'], testOps: ['IOMMU_TEST_OP_CREATE_ACCESS', 'IOMMU_TEST_OP_ACCESS_RW'] },
    );
    const r = await judge(p, 'conformance/mutants/unseen/access-rw-slow-no-foll-write.ts');
    expect(r.broken, r.text).toContain('invariants.dma-confinement');
    expect(r.text).toMatch(/can no longer write/);
    expect(r.reference, r.text).toEqual([]);
  });

  check('suite.invariants.closed-access-releases-its-ioas', async () => {
    // An access on an IOAS, its file closed: the IOAS has no holder left, and DESTROY of it succeeds.
    const p = program(
      'closed-access-destroy-ioas',
      [
        ...open,
        { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_TEST_CMD', fields: { op: 'IOMMU_TEST_OP_CREATE_ACCESS', id: '$ioas', create_access: { flags: 0 } }, bind: { acc: 'out.create_access.out_access_fd' } },
        { op: 'close', fd: '$acc' },
        { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_DESTROY', fields: { id: '$ioas' }, expect: { ok: true } },
      ],
      { testOps: ['IOMMU_TEST_OP_CREATE_ACCESS'] },
    );
    const r = await judge(p, 'conformance/mutants/unseen/access-destroy-skips-detach.ts');
    expect(r.broken, r.text).toContain('invariants.lifetime');
    expect(r.text).toMatch(/nothing holds it/);
    expect(r.reference, r.text).toEqual([]);
  });

  check('suite.invariants.remove-waits-for-open-files', async () => {
    // A device file opened and never bound holds the device: hot-remove must wait (the reference refuses it).
    const p = program(
      'remove-with-unbound-file',
      [
        { op: 'device_create', spec: { iommu: 'vtd0' }, bind: { d: 'device' } },
        { op: 'open_device', device: '$d', bind: { dfd: 'fd' } },
        { op: 'device_remove', device: '$d' },
      ],
      { ops: ['device_create', 'open_device', 'device_remove'] },
    );
    const r = await judge(p, 'conformance/mutants/unseen/remove-ignores-unbound-file.ts');
    expect(r.broken, r.text).toContain('invariants.lifetime');
    expect(r.text).toMatch(/device_remove of device \d+ succeeded while it has 1 open file\(s\) \(unbound\)/);
    expect(r.reference, r.text).toEqual([]);
  });

  check('suite.invariants.large-leaf-over-walked-table', async () => {
    // A page alone in its 2 MiB span, reached by a device (the walk caches hold its leaf table), unmapped:
    // the table stays, empty. A map of the whole span from a huge buffer puts a large leaf in its place;
    // the device must reach the new mapping (the probe after the map), not fault in the freed table.
    const p = program(
      'large-leaf-over-table',
      [
        ...open,
        ...device('d', '$ioas'),
        { op: 'mem_alloc', length: 2097152, hugeAligned: true, bind: { big: '.' } },
        { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_IOAS_MAP', fields: { ioas_id: '$ioas', flags: 'IOMMU_IOAS_MAP_FIXED_IOVA|IOMMU_IOAS_MAP_READABLE|IOMMU_IOAS_MAP_WRITEABLE', user_va: '$buf.va', length: '4096', iova: '0x40001000' } },
        { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_IOAS_UNMAP', fields: { ioas_id: '$ioas', iova: '0x40001000', length: '4096' } },
        { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_IOAS_MAP', fields: { ioas_id: '$ioas', flags: 'IOMMU_IOAS_MAP_FIXED_IOVA|IOMMU_IOAS_MAP_READABLE|IOMMU_IOAS_MAP_WRITEABLE', user_va: '$big.va', length: '2097152', iova: '0x40000000' } },
        { op: 'iotlb', iommu: 'vtd0', expect: { ok: true, result: { entries: { some: { iova: '0x40000000', size: 2097152 } } } } },
      ],
      { ops: ['device_create', 'open_device', 'dma', 'iotlb'], commands: ['VFIO_DEVICE_BIND_IOMMUFD', 'VFIO_DEVICE_ATTACH_IOMMUFD_PT'] },
    );
    const r = await judge(p, 'conformance/mutants/unseen/map-superpage-no-flush.ts');
    expect(r.broken, r.text).toContain('invariants.group-isolation');
    expect(r.text).toMatch(/DMA read at 0x40000000 faulted/);
    expect(r.reference, r.text).toEqual([]);
    // 6.12's VT-d driver frees the tables in switch_to_super_page and flushes right after (cache_tag_flush_range, IH=0).
    const on612 = await replayProgram(p, { impl: 'ref', profile: '6.12', oracle: 'invariants' });
    expect(on612.objections, on612.text).toEqual([]);
  });
  check('suite.invariants.iova-ranges-writes-what-fits', async () => {
    // Room for no range, and a buffer of its own bytes after it: EMSGSIZE, and the buffer as it was.
    const p = program('iova-ranges-room-zero', [...open, { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_IOAS_IOVA_RANGES', fields: { ioas_id: '$ioas', num_iovas: 0, allowed_iovas: { data: { hex: 'a5'.repeat(32) } } }, expect: { errno: ['EMSGSIZE'] } }]);
    const r = await judge(p, 'conformance/mutants/unseen/iova-ranges-copy-past-num.ts');
    expect(r.broken, r.text).toContain('invariants.abi-hygiene');
    expect(r.text).toMatch(/IOMMU_IOAS_IOVA_RANGES with num_iovas left byte 0/);
    expect(r.reference, r.text).toEqual([]);
  });

  check('suite.invariants.failed-option-set-changes-nothing', async () => {
    // An area 2 KiB into a page, no domain: large pages cannot go off (EADDRINUSE), and stay on.
    const p = program('huge-pages-off-refused', [
      ...open,
      { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_IOAS_MAP', fields: { ioas_id: '$ioas', flags: 'IOMMU_IOAS_MAP_READABLE|IOMMU_IOAS_MAP_WRITEABLE', user_va: { $: 'buf', field: 'va', add: 2048 }, length: '4096' } },
      { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_OPTION', fields: { option_id: 'IOMMU_OPTION_HUGE_PAGES', op: 'IOMMU_OPTION_OP_SET', object_id: '$ioas', val64: '0' }, expect: { errno: ['EADDRINUSE'] } },
      { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_OPTION', fields: { option_id: 'IOMMU_OPTION_HUGE_PAGES', op: 'IOMMU_OPTION_OP_GET', object_id: '$ioas' }, expect: { ok: true } },
    ]);
    const r = await judge(p, 'conformance/mutants/unseen/disable-large-pages-no-restore.ts');
    expect(r.broken, r.text).toContain('invariants.abi-hygiene');
    expect(r.text).toMatch(/GET of HUGE_PAGES of IOAS \d+ answered 0/);
    expect(r.reference, r.text).toEqual([]);
  });

  check('suite.invariants.end-of-case-options', async () => {
    // The same refused SET with no GET after it: the end of the case asks each IOAS's HUGE_PAGES.
    const p = program('huge-pages-off-refused-unasked', [
      ...open,
      { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_IOAS_MAP', fields: { ioas_id: '$ioas', flags: 'IOMMU_IOAS_MAP_READABLE|IOMMU_IOAS_MAP_WRITEABLE', user_va: { $: 'buf', field: 'va', add: 2048 }, length: '4096' } },
      { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_OPTION', fields: { option_id: 'IOMMU_OPTION_HUGE_PAGES', op: 'IOMMU_OPTION_OP_SET', object_id: '$ioas', val64: '0' }, expect: { errno: ['EADDRINUSE'] } },
    ]);
    const r = await judge(p, 'conformance/mutants/unseen/disable-large-pages-no-restore.ts');
    expect(r.broken, r.text).toContain('invariants.abi-hygiene');
    expect(r.text).toMatch(/at the end of the case, IOMMU_OPTION GET of HUGE_PAGES of IOAS \d+ answered 0/);
    expect(r.reference, r.text).toEqual([]);
    // A context's first command sets RLIMIT_MODE to the mm's pinned_vm and answers EINVAL.
    const q = program('rlimit-mode-set-unasked', [
      { op: 'open', node: 'iommu', bind: { fd: 'fd' } },
      { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_OPTION', fields: { option_id: 'IOMMU_OPTION_RLIMIT_MODE', op: 'IOMMU_OPTION_OP_SET', object_id: 0, val64: '1' } },
    ]);
    const l = await judge(q, 'lie:success-answers-einval');
    expect(l.broken, l.text).toContain('invariants.abi-hygiene');
    expect(l.text).toMatch(/at the end of the case, IOMMU_OPTION GET of RLIMIT_MODE answered 1/);
    expect(l.reference, l.text).toEqual([]);
  });

  check('suite.invariants.md-check-map-refusal-is-testimony', async () => {
    // A mock domain holds 2 MiB of the IOAS, mapped writable from a 2 MiB-aligned buffer to a
    // 2 MiB-aligned IOVA (a large leaf): MD_CHECK_MAP of the whole, every page aligned, must agree.
    // Its EINVAL says the domain translates some page elsewhere than the IOAS maps it.
    const p = program(
      'md-check-map-inside-a-leaf',
      [
        { op: 'open', node: 'iommu', bind: { fd: 'fd' } },
        { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_IOAS_ALLOC', fields: {}, bind: { ioas: 'out.out_ioas_id' } },
        { op: 'mem_alloc', length: 2097152, hugeAligned: true, bind: { buf: '.' } },
        { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_TEST_CMD', fields: { op: 'IOMMU_TEST_OP_MOCK_DOMAIN', id: '$ioas', mock_domain: {} }, bind: { hwpt: 'out.mock_domain.out_hwpt_id' } },
        { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_IOAS_MAP', fields: { ioas_id: '$ioas', flags: 'IOMMU_IOAS_MAP_FIXED_IOVA|IOMMU_IOAS_MAP_READABLE|IOMMU_IOAS_MAP_WRITEABLE', user_va: '$buf.va', length: '2097152', iova: '0x40000000' } },
        { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_TEST_CMD', fields: { op: 'IOMMU_TEST_OP_MD_CHECK_MAP', id: '$hwpt', check_map: { iova: '0x40000000', length: '2097152', uptr: '$buf.va' } } },
      ],
      { testOps: ['IOMMU_TEST_OP_MOCK_DOMAIN', 'IOMMU_TEST_OP_MD_CHECK_MAP'] },
    );
    const r = await judge(p, 'conformance/mutants/unseen/pt-iova-to-phys-leaf-base.ts');
    expect(r.broken, r.text).toContain('invariants.dma-confinement');
    expect(r.text).toMatch(/IOMMU_TEST_OP_MD_CHECK_MAP of IOVA 0x40000000\.\.\+0x200000 in mock domain \d+ failed with EINVAL/);
    expect(r.reference, r.text).toEqual([]);
  });

  check('suite.invariants.md-check-refs-alignment', async () => {
    // MD_CHECK_REFS of a page 8 bytes in: EINVAL before any page is looked up, whatever its count.
    const p = program('md-check-refs-unaligned', [
      ...withBuffer(16384),
      { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_TEST_CMD', fields: { op: 'IOMMU_TEST_OP_MD_CHECK_REFS', id: 0, check_refs: { length: '4096', uptr: { $: 'buf', field: 'va', add: 8 }, refs: 0 } }, expect: { errno: ['EINVAL'] } },
    ], { testOps: ['IOMMU_TEST_OP_MD_CHECK_REFS'] });
    const r = await judge(p, 'conformance/mutants/unseen/md-check-refs-uptr-align-unchecked.ts');
    expect(r.broken, r.text).toContain('invariants.abi-hygiene');
    expect(r.text).toMatch(/IOMMU_TEST_OP_MD_CHECK_REFS of 0x1000 bytes at 0x[0-9a-f]+008 succeeded/);
    expect(r.reference, r.text).toEqual([]);
  });

  check('suite.invariants.md-check-map-only-mock-domains', async () => {
    // d's automatic HWPT is a VT-d domain: MD_CHECK_MAP of it is EINVAL (get_md_pagetable), however
    // well the range is mapped; a success checked nothing.
    const p = program(
      'md-check-map-of-a-vtd-domain',
      [
        ...withBuffer(16384),
        ...bound('d'),
        { op: 'ioctl', fd: '$d_fd', cmd: 'VFIO_DEVICE_ATTACH_IOMMUFD_PT', fields: { pt_id: '$ioas' }, bind: { hwpt: 'out.pt_id' } },
        { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_IOAS_MAP', fields: { ioas_id: '$ioas', flags: 'IOMMU_IOAS_MAP_FIXED_IOVA|IOMMU_IOAS_MAP_READABLE|IOMMU_IOAS_MAP_WRITEABLE', user_va: '$buf.va', length: '16384', iova: '0x100000' } },
        { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_TEST_CMD', fields: { op: 'IOMMU_TEST_OP_MD_CHECK_MAP', id: '$hwpt', check_map: { iova: '0x100000', length: '16384', uptr: '$buf.va' } }, expect: { errno: ['EINVAL'] } },
      ],
      { ops: ['device_create', 'open_device'], commands: ['VFIO_DEVICE_BIND_IOMMUFD', 'VFIO_DEVICE_ATTACH_IOMMUFD_PT'], testOps: ['IOMMU_TEST_OP_MD_CHECK_MAP'] },
    );
    const r = await judge(p, 'lie:failure-answers-success');
    expect(r.broken, r.text).toContain('invariants.abi-hygiene');
    expect(r.text).toMatch(/IOMMU_TEST_OP_MD_CHECK_MAP succeeded on HWPT \d+, a domain of unit vtd0, not of the selftest's mock driver/);
    expect(r.reference, r.text).toEqual([]);
  });

  check('suite.invariants.areas-never-overlap', async () => {
    // Walls at 0x2000 and 0x5000 leave [0x3000, 0x5000): 8 KiB, but not at an 8 KiB boundary. An
    // automatic 8 KiB map from a 2 MiB-aligned buffer wants an 8 KiB-aligned IOVA: not that hole.
    const wall = (iova: string): Step => ({ op: 'ioctl', fd: '$fd', cmd: 'IOMMU_IOAS_MAP', fields: { ioas_id: '$ioas', flags: 'IOMMU_IOAS_MAP_FIXED_IOVA|IOMMU_IOAS_MAP_READABLE', user_va: '$buf.va', length: '4096', iova } });
    const p = program('tight-hole', [
      ...open,
      wall('0x5000'),
      wall('0x2000'),
      { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_IOAS_MAP', fields: { ioas_id: '$ioas', flags: 'IOMMU_IOAS_MAP_READABLE', user_va: '$buf.va', length: '8192' }, expect: { ok: true } },
    ]);
    const r = await judge(p, 'conformance/mutants/unseen/alloc-iova-fit-ignores-align-pad.ts');
    expect(r.broken, r.text).toContain('invariants.dma-confinement');
    expect(r.text).toMatch(/over the area already at 0x5000\.\.0x5fff/);
    expect(r.reference, r.text).toEqual([]);
  });

  check('suite.invariants.attach-within-unit-reach', async () => {
    // A 48-bit VT-d domain that does not enforce coherency (allocated for a vtd0 device that cannot),
    // mapped low only; a device behind the 39-bit vtd1 unit attaches to it. The kernel refuses
    // (paging_domain_compatible: the domain is wider than the unit), and the reference does too.
    const p = program(
      'attach-narrow-unit',
      [
        ...open,
        { op: 'device_create', spec: { iommu: 'vtd0', enforceCacheCoherency: false }, bind: { a: 'device' } },
        { op: 'open_device', device: '$a', bind: { a_fd: 'fd' } },
        { op: 'ioctl', fd: '$a_fd', cmd: 'VFIO_DEVICE_BIND_IOMMUFD', fields: { iommufd: '$fd' }, bind: { a_id: 'out.out_devid' } },
        { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_HWPT_ALLOC', fields: { dev_id: '$a_id', pt_id: '$ioas' }, bind: { hwpt: 'out.out_hwpt_id' } },
        { op: 'ioctl', fd: '$a_fd', cmd: 'VFIO_DEVICE_ATTACH_IOMMUFD_PT', fields: { pt_id: '$hwpt' } },
        { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_IOAS_MAP', fields: { ioas_id: '$ioas', flags: 'IOMMU_IOAS_MAP_FIXED_IOVA|IOMMU_IOAS_MAP_READABLE|IOMMU_IOAS_MAP_WRITEABLE', user_va: '$buf.va', length: '4096', iova: '0x100000' } },
        { op: 'device_create', spec: { iommu: 'vtd1' }, bind: { b: 'device' } },
        { op: 'open_device', device: '$b', bind: { b_fd: 'fd' } },
        { op: 'ioctl', fd: '$b_fd', cmd: 'VFIO_DEVICE_BIND_IOMMUFD', fields: { iommufd: '$fd' } },
        { op: 'ioctl', fd: '$b_fd', cmd: 'VFIO_DEVICE_ATTACH_IOMMUFD_PT', fields: { pt_id: '$hwpt' } },
      ],
      { ops: ['device_create', 'open_device'], commands: ['VFIO_DEVICE_BIND_IOMMUFD', 'IOMMU_HWPT_ALLOC', 'VFIO_DEVICE_ATTACH_IOMMUFD_PT'] },
    );
    const r = await judge(p, 'conformance/mutants/unseen/vtd-attach-width-from-max-addr.ts');
    expect(r.broken, r.text).toContain('invariants.dma-confinement');
    expect(r.text).toMatch(/its own unit vtd1 reaches 0x0\.\.0x7fffffffff only/);
    expect(r.reference, r.text).toEqual([]);
  });

  check('suite.invariants.unmapped-while-away', async () => {
    // A device on a HWPT of its own has read what the IOAS maps (the probes after each map fill its
    // IOTLB), leaves the HWPT, and one mapping is unmapped while no device uses the domain; then
    // other IOVAs come and go in another IOAS (the recent unmaps the probes sample are all there).
    // Back on the HWPT, the device must reach nothing of what was unmapped while it was away.
    const map = (ioas: string, iova: string): Step => ({ op: 'ioctl', fd: '$fd', cmd: 'IOMMU_IOAS_MAP', fields: { ioas_id: ioas, flags: 'IOMMU_IOAS_MAP_FIXED_IOVA|IOMMU_IOAS_MAP_READABLE|IOMMU_IOAS_MAP_WRITEABLE', user_va: '$buf.va', length: '4096', iova } });
    const mib = (n: number): string => `0x${n.toString(16)}00000`;
    const p = program(
      'unmapped-while-away',
      [
        ...open,
        { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_IOAS_ALLOC', fields: {}, bind: { other: 'out.out_ioas_id' } },
        { op: 'device_create', spec: { iommu: 'smmu0' }, bind: { d: 'device' } },
        { op: 'open_device', device: '$d', bind: { d_fd: 'fd' } },
        { op: 'ioctl', fd: '$d_fd', cmd: 'VFIO_DEVICE_BIND_IOMMUFD', fields: { iommufd: '$fd' }, bind: { devid: 'out.out_devid' } },
        { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_HWPT_ALLOC', fields: { dev_id: '$devid', pt_id: '$ioas' }, bind: { hwpt: 'out.out_hwpt_id' } },
        { op: 'ioctl', fd: '$d_fd', cmd: 'VFIO_DEVICE_ATTACH_IOMMUFD_PT', fields: { pt_id: '$hwpt' } },
        ...[1, 2, 3, 4, 5, 6].map((n) => map('$ioas', mib(n))),
        { op: 'ioctl', fd: '$d_fd', cmd: 'VFIO_DEVICE_DETACH_IOMMUFD_PT', fields: {} },
        { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_IOAS_UNMAP', fields: { ioas_id: '$ioas', iova: mib(4), length: '4096' } },
        ...[1, 2, 3, 4, 5, 6, 7, 8].map((n) => map('$other', mib(n))),
        { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_IOAS_UNMAP', fields: { ioas_id: '$other', iova: '0', length: mib(9) } },
        { op: 'ioctl', fd: '$d_fd', cmd: 'VFIO_DEVICE_ATTACH_IOMMUFD_PT', fields: { pt_id: '$hwpt' } },
      ],
      { ops: ['device_create', 'open_device'], commands: ['VFIO_DEVICE_BIND_IOMMUFD', 'IOMMU_HWPT_ALLOC', 'VFIO_DEVICE_ATTACH_IOMMUFD_PT', 'VFIO_DEVICE_DETACH_IOMMUFD_PT'] },
    );
    const r = await judge(p, 'conformance/mutants/unseen/smmu-invs-unref-no-tag-flush.ts');
    expect(r.broken, r.text).toContain('invariants.dma-confinement');
    expect(r.text).toMatch(/DMA read of 8 byte\(s\) at 0x400000 succeeded/);
    expect(r.reference, r.text).toEqual([]);
  });
});

describe('the user’s locked_vm, which no observation shows, is judged at the end of a case', () => {
  check('suite.invariants.user-charge-gone-after-close', async () => {
    // Unprivileged under an 8-page RLIMIT_MEMLOCK: 4 pages pinned into a mock domain, unmapped, the
    // file closed. A new context must then pin all 8 pages, and be refused a ninth.
    const p = program(
      'user-charge-leak',
      [
        { op: 'set_process', rlimitMemlock: '32768', capIpcLock: false },
        ...open,
        { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_TEST_CMD', fields: { op: 'IOMMU_TEST_OP_MOCK_DOMAIN', id: '$ioas', mock_domain: {} } },
        { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_IOAS_MAP', fields: { ioas_id: '$ioas', flags: 'IOMMU_IOAS_MAP_READABLE|IOMMU_IOAS_MAP_WRITEABLE', user_va: '$buf.va', length: '16384' }, bind: { iova: 'out.iova' } },
        { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_IOAS_UNMAP', fields: { ioas_id: '$ioas', iova: '$iova', length: '16384' } },
      ],
      { ops: ['set_process'], testOps: ['IOMMU_TEST_OP_MOCK_DOMAIN'] },
    );
    const r = await judge(p, 'conformance/mutants/unseen/unpin-no-uncharge.ts');
    expect(r.broken, r.text).toContain('invariants.accounting');
    expect(r.text).toMatch(/a new context pinning 8 page\(s\) .* was refused with ENOMEM/);
    expect(r.reference, r.text).toEqual([]);
  });
});

describe('closing every file and VM gives every device back', () => {
  check('suite.invariants.rebind-after-closing', async () => {
    // A VM registers a device file, which is then bound; a second FILE_ADD of the same file is
    // refused (EEXIST). Once every file and VM is closed, a fresh context must bind the device.
    const p = program(
      'rebind-after-closing',
      [
        { op: 'kvm_create', bind: { vm: 'vm' } },
        { op: 'open', node: 'iommu', bind: { fd: 'fd' } },
        { op: 'device_create', spec: { iommu: 'vtd0' }, bind: { d: 'device' } },
        { op: 'open_device', device: '$d', bind: { d_fd: 'fd' } },
        { op: 'kvm_vfio_add', vm: '$vm', fd: '$d_fd' },
        { op: 'ioctl', fd: '$d_fd', cmd: 'VFIO_DEVICE_BIND_IOMMUFD', fields: { iommufd: '$fd' } },
        { op: 'kvm_vfio_add', vm: '$vm', fd: '$d_fd', expect: { errno: ['EEXIST'] } },
      ],
      { ops: ['kvm_create', 'kvm_vfio_add', 'device_create', 'open_device'], commands: ['VFIO_DEVICE_BIND_IOMMUFD'] },
    );
    const r = await judge(p, 'conformance/mutants/unseen/kvm-add-eexist-leaks-file.ts');
    expect(r.broken, r.text).toContain('invariants.lifetime');
    expect(r.text).toMatch(/a fresh context's VFIO_DEVICE_BIND_IOMMUFD of device \d+ .* failed with/);
    expect(r.reference, r.text).toEqual([]);
  });
});

describe('a bind whose answer cannot be copied back is closed again', () => {
  check('suite.invariants.bind-efault-then-rebind', async () => {
    // A bind of a device in read-only memory (ADAPTER.md §3.3): bound, then out_devid's copy-back
    // faults (EFAULT), which shows the unit can bind the device; the same bind right after must go
    // through. No bind succeeded behind the unit before, so only the EFAULT tells the rule so.
    const p = program(
      'bind-efault-then-rebind',
      [
        { op: 'open', node: 'iommu', bind: { fd: 'fd' } },
        { op: 'device_create', spec: { iommu: 'vtd0' }, bind: { d: 'device' } },
        { op: 'open_device', device: '$d', bind: { f: 'fd' } },
        { op: 'ioctl', fd: '$f', cmd: 'VFIO_DEVICE_BIND_IOMMUFD', fields: { iommufd: '$fd' }, readOnly: true, expect: { errno: ['EFAULT'] } },
        { op: 'ioctl', fd: '$f', cmd: 'VFIO_DEVICE_BIND_IOMMUFD', fields: { iommufd: '$fd' }, expect: { ok: true } },
      ],
      { ops: ['device_create', 'open_device'], commands: ['VFIO_DEVICE_BIND_IOMMUFD'] },
    );
    const r = await judge(p, 'conformance/mutants/unseen/cdev-bind-efault-no-close.ts');
    expect(r.broken, r.text).toContain('invariants.lifetime');
    expect(r.text).toMatch(/failed with EINVAL, but no file has the device bound/);
    expect(r.reference, r.text).toEqual([]);
  });
});

describe('a command whose answer cannot be copied back leaves nothing behind', () => {
  check('suite.invariants.answer-fault-leaves-nothing', async () => {
    // HWPT_ALLOC with its struct in read-only memory (ADAPTER.md §3.3): the domain is built, the copy
    // of out_hwpt_id faults, and the HWPT must go again (EFAULT). The IOAS is then held by nothing.
    const p = program(
      'hwpt-alloc-answer-fault',
      [
        ...open,
        { op: 'device_create', spec: { iommu: 'vtd0' }, bind: { d: 'device' } },
        { op: 'open_device', device: '$d', bind: { d_fd: 'fd' } },
        { op: 'ioctl', fd: '$d_fd', cmd: 'VFIO_DEVICE_BIND_IOMMUFD', fields: { iommufd: '$fd' }, bind: { devid: 'out.out_devid' } },
        { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_HWPT_ALLOC', fields: { dev_id: '$devid', pt_id: '$ioas' }, readOnly: true, expect: { errno: ['EFAULT'] } },
        { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_DESTROY', fields: { id: '$ioas' }, expect: { ok: true } },
      ],
      { ops: ['device_create', 'open_device'], commands: ['VFIO_DEVICE_BIND_IOMMUFD', 'IOMMU_HWPT_ALLOC'] },
    );
    const r = await judge(p, 'conformance/mutants/unseen/hwpt-alloc-efault-abort-only.ts');
    expect(r.broken, r.text).toContain('invariants.lifetime');
    expect(r.reference, r.text).toEqual([]);
  });

  check('suite.invariants.failed-attach-probed-where-it-named', async () => {
    // A first attach whose struct is read-only fails (the pt_id copy-back faults: EFAULT) and must
    // leave the device detached; the step's own probe DMAs at a mapped page of the IOAS it named.
    const p = program(
      'attach-answer-fault',
      [
        ...beforeAttach,
        { op: 'ioctl', fd: '$d_fd', cmd: 'VFIO_DEVICE_ATTACH_IOMMUFD_PT', fields: { pt_id: '$ioas' }, readOnly: true, expect: { errno: ['EFAULT'] } },
      ],
      { ops: ['device_create', 'open_device', 'dma'], commands: ['VFIO_DEVICE_BIND_IOMMUFD', 'VFIO_DEVICE_ATTACH_IOMMUFD_PT'] },
    );
    // Objected at the attach itself (step 15), not only by the end-of-case sweep.
    const r = await atAttach(p, 'cdev-attach-efault-no-detach');
    expect(r.broken, r.text).toContain('invariants.dma-confinement');
    expect(r.reference, r.text).toEqual([]);
  });

  check('suite.invariants.end-of-case-iova-ranges', async () => {
    // The same leak with nothing after it: only the end of the case, which asks every live IOAS
    // for IOVA_RANGES, can see the domain the failed HWPT_ALLOC left in the IOAS.
    const p = program(
      'hwpt-alloc-answer-fault-quiet',
      [
        ...open,
        { op: 'device_create', spec: { iommu: 'vtd0' }, bind: { d: 'device' } },
        { op: 'open_device', device: '$d', bind: { d_fd: 'fd' } },
        { op: 'ioctl', fd: '$d_fd', cmd: 'VFIO_DEVICE_BIND_IOMMUFD', fields: { iommufd: '$fd' }, bind: { devid: 'out.out_devid' } },
        { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_HWPT_ALLOC', fields: { dev_id: '$devid', pt_id: '$ioas' }, readOnly: true, expect: { errno: ['EFAULT'] } },
      ],
      { ops: ['device_create', 'open_device'], commands: ['VFIO_DEVICE_BIND_IOMMUFD', 'IOMMU_HWPT_ALLOC', 'IOMMU_IOAS_IOVA_RANGES'] },
    );
    const r = await judge(p, 'conformance/mutants/unseen/hwpt-alloc-efault-abort-only.ts');
    expect(r.broken, r.text).toContain('invariants.abi-hygiene');
    expect(r.text).toMatch(/IOMMU_IOAS_IOVA_RANGES of IOAS \d+ at the end of the case/);
    expect(r.reference, r.text).toEqual([]);
  });
});

describe('a PASID’s attach is the PASID’s alone', () => {
  check('suite.invariants.pasid-attach-leaves-the-device', async () => {
    // A bound, unattached device's PASID attach to an IOAS that maps a page (7.3's
    // VFIO_DEVICE_ATTACH_PASID): whatever the answer, the device's own DMA (no PASID) reaches
    // nothing; the step's probe DMAs at the named IOAS's mapped page.
    const p = program(
      'attach-pasid',
      [
        ...beforeAttach,
        { op: 'ioctl', fd: '$d_fd', cmd: 'VFIO_DEVICE_ATTACH_IOMMUFD_PT', fields: { flags: 'VFIO_DEVICE_ATTACH_PASID', pt_id: '$ioas', pasid: 5 }, expect: { errno: ['EOPNOTSUPP'] } },
      ],
      { ops: ['device_create', 'open_device', 'dma'], commands: ['VFIO_DEVICE_BIND_IOMMUFD', 'VFIO_DEVICE_ATTACH_IOMMUFD_PT'] },
      ['7.3'],
    );
    const r = await atAttach(p, 'cdev-attach-pasid-falls-back-to-rid');
    expect(r.broken, r.text).toContain('invariants.dma-confinement');
    expect(r.reference, r.text).toEqual([]);
  });
});

describe('an IOAS’s alignment is its domains’ and accesses’', () => {
  /** IOVA_RANGES with no room: EMSGSIZE, and the count and the alignment copied back. */
  const alignment: Step = { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_IOAS_IOVA_RANGES', fields: { ioas_id: '$ioas', num_iovas: 0, allowed_iovas: '0' }, expect: { errno: ['EMSGSIZE'] } };

  check('suite.invariants.iova-alignment', async () => {
    // A mock domain refused (EADDRINUSE: an area below its aperture) leaves the IOAS with no domain,
    // so with alignment 1 (iopt_table_add_domain's unwind); the fault had already raised it.
    const failed = program(
      'failed-attach-alignment',
      [
        ...open,
        { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_IOAS_MAP', fields: { ioas_id: '$ioas', flags: 'IOMMU_IOAS_MAP_FIXED_IOVA|IOMMU_IOAS_MAP_READABLE|IOMMU_IOAS_MAP_WRITEABLE', user_va: '$buf.va', length: '4096', iova: '0x1000' } },
        { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_TEST_CMD', fields: { op: 'IOMMU_TEST_OP_MOCK_DOMAIN', id: '$ioas', mock_domain: {} }, expect: { errno: ['EADDRINUSE'] } },
        alignment,
      ],
      { testOps: ['IOMMU_TEST_OP_MOCK_DOMAIN'], commands: ['IOMMU_IOAS_IOVA_RANGES'] },
    );
    const r = await judge(failed, 'conformance/mutants/unseen/add-domain-alignment-before-fill.ts');
    expect(r.broken, r.text).toContain('invariants.abi-hygiene');
    expect(r.text).toMatch(/out_iova_alignment 2048, but its domains and accesses impose 1/);
    expect(r.reference, r.text).toEqual([]);
    // What raises it on the reference is judged too, and agrees: a mock domain (its 2 KiB pages),
    // a pinning access (PAGE_SIZE), large pages turned off (PAGE_SIZE), each taken back when it goes.
    const raised = program(
      'alignment-raised-and-lowered',
      [
        ...open,
        { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_TEST_CMD', fields: { op: 'IOMMU_TEST_OP_MOCK_DOMAIN', id: '$ioas', mock_domain: {} }, bind: { stdev: 'out.mock_domain.out_stdev_id', hwpt: 'out.mock_domain.out_hwpt_id' } },
        alignment,
        { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_TEST_CMD', fields: { op: 'IOMMU_TEST_OP_CREATE_ACCESS', id: '$ioas', create_access: { flags: 'MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES' } }, bind: { acc: 'out.create_access.out_access_fd' } },
        alignment,
        { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_DESTROY', fields: { id: '$stdev' } },
        alignment,
        { op: 'close', fd: '$acc' },
        alignment,
        { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_OPTION', fields: { option_id: 'IOMMU_OPTION_HUGE_PAGES', op: 'IOMMU_OPTION_OP_SET', object_id: '$ioas', val64: '0' } },
        alignment,
      ],
      { testOps: ['IOMMU_TEST_OP_MOCK_DOMAIN', 'IOMMU_TEST_OP_CREATE_ACCESS'], commands: ['IOMMU_IOAS_IOVA_RANGES', 'IOMMU_OPTION'] },
    );
    const onRef = await replayProgram(raised, { impl: 'ref', profile: '7.3', oracle: 'invariants' });
    expect(onRef.objections, onRef.text).toEqual([]);
    expect(onRef.trace.filter((t) => t.status !== 'ok' && t.status !== 'failed'), onRef.text).toEqual([]);
    const aligned = onRef.trace.filter((t) => t.request?.op === 'ioctl' && t.request.cmd === 'IOMMU_IOAS_IOVA_RANGES').map((t) => String((t.response as unknown as { result: { out: { out_iova_alignment: bigint } } }).result.out.out_iova_alignment));
    expect(aligned).toStrictEqual(['2048', '4096', '4096', '1', '4096']);
  });
});

describe('what single lies showed the invariants did not see (mutants --lies)', () => {
  check('suite.invariants.open-fd-until-closed', async () => {
    // A close that closed the file but answered EBADF: objected to at the close itself.
    const closing = program('close-an-open-iommufd', [...open, { op: 'close', fd: '$fd' }]);
    const r = await judge(closing, 'conformance/mutants/fixtures/close-lie-after-the-first.ts');
    expect(r.broken, r.text).toContain('invariants.lifetime');
    expect(r.text).toMatch(/close on fd \d+, an iommufd the process opened and has not closed, failed with EBADF/);
    expect(r.reference, r.text).toEqual([]);
    // The session's first close is the invariants' own (the file opened at the start to learn the
    // lowest free fd): its EBADF is objected to at the end of the case.
    const own = await judge(closing, 'lie:close-answers-ebadf');
    expect(own.broken, own.text).toContain('invariants.lifetime');
    expect(own.text).toMatch(/at the end of the case, close of fd \d+, opened at the case’s start to find the lowest free number, failed with EBADF/);
    // EBADF about a descriptor the argument names is not the file's: a bind to an iommufd already
    // closed fails with EBADF on the reference, and that is no objection.
    const stale = program(
      'bind-to-a-closed-iommufd',
      [
        ...open,
        { op: 'close', fd: '$fd' },
        { op: 'device_create', spec: { iommu: 'vtd0' }, bind: { d: 'device' } },
        { op: 'open_device', device: '$d', bind: { d_fd: 'fd' } },
        { op: 'ioctl', fd: '$d_fd', cmd: 'VFIO_DEVICE_BIND_IOMMUFD', fields: { iommufd: '$fd' }, expect: { errno: ['EBADF'] } },
      ],
      { ops: ['device_create', 'open_device'], commands: ['VFIO_DEVICE_BIND_IOMMUFD'] },
    );
    const onRef = await replayProgram(stale, { impl: 'ref', profile: '7.3', oracle: 'invariants' });
    expect(onRef.objections, onRef.text).toEqual([]);
    expect(onRef.trace.filter((t) => t.status !== 'ok' && t.status !== 'failed'), onRef.text).toEqual([]);
    // An ioctl issued on a descriptor already closed is refused by fdget (EBADF) before iommufd
    // sees it: not a pin the access's mapped IOAS had to grant (a shrunk counterexample once
    // closed the context and kept the access's next pin, and the rule for pins objected).
    const closedCtx = program(
      'pin-through-a-closed-iommufd',
      [
        ...open,
        { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_IOAS_MAP', fields: { ioas_id: '$ioas', flags: 'IOMMU_IOAS_MAP_FIXED_IOVA|IOMMU_IOAS_MAP_READABLE|IOMMU_IOAS_MAP_WRITEABLE', user_va: '$buf.va', length: '16384', iova: '0x1000000' } },
        { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_TEST_CMD', fields: { op: 'IOMMU_TEST_OP_CREATE_ACCESS', id: '$ioas', create_access: { flags: 'MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES' } }, bind: { afd: 'out.create_access.out_access_fd' } },
        { op: 'close', fd: '$fd' },
        { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_TEST_CMD', fields: { op: 'IOMMU_TEST_OP_ACCESS_PAGES', id: '$afd', access_pages: { flags: 'MOCK_FLAGS_ACCESS_WRITE', iova: '0x1000000', length: '12288', uptr: '0' } }, expect: { errno: ['EBADF'] } },
      ],
      { commands: ['IOMMU_TEST_CMD'] },
    );
    const pin = await replayProgram(closedCtx, { impl: 'ref', profile: '7.3', oracle: 'invariants' });
    expect(pin.objections, pin.text).toEqual([]);
    expect(pin.trace.filter((t) => t.status !== 'ok' && t.status !== 'failed'), pin.text).toEqual([]);
  });

  check('suite.invariants.new-vm-is-coherent', async () => {
    // A VM nothing was registered with emulates no WBINVD (noncoherent_dma_count starts at 0).
    const p = program('new-vm-state', [{ op: 'kvm_create', bind: { vm: 'vm' } }, { op: 'kvm_state', vm: '$vm' }], { ops: ['kvm_create', 'kvm_state'] });
    const r = await judge(p, 'lie:kvm-wbinvd-flipped');
    expect(r.broken, r.text).toContain('invariants.coherency');
    expect(r.reference, r.text).toEqual([]);
  });

  check('suite.invariants.inputs-come-back', async () => {
    // A fixed MAP whose answer reports another length than the caller sent (the lie changes the
    // first reported value of a success: here the map's length): an input comes back as sent.
    const p = program('fixed-map', [...open, { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_IOAS_MAP', fields: { ioas_id: '$ioas', flags: 'IOMMU_IOAS_MAP_FIXED_IOVA|IOMMU_IOAS_MAP_READABLE|IOMMU_IOAS_MAP_WRITEABLE', user_va: '$buf.va', length: '8192', iova: '0x100000' } }]);
    const r = await judge(p, 'lie:out-value-changed');
    expect(r.broken, r.text).toContain('invariants.abi-hygiene');
    expect(r.text).toMatch(/IOMMU_IOAS_MAP succeeded, but its length, an input the caller sets, came back as 12288 where 8192 was sent/);
    expect(r.reference, r.text).toEqual([]);
  });

  check('suite.invariants.unmap-of-whole-areas-not-enoent', async () => {
    // The same lie, then an unmap of exactly the range the MAP answered: ENOENT is for an area
    // running past the range, and the shadow knows the one area there lies inside it.
    const p = program('auto-map-then-unmap', [
      ...open,
      { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_IOAS_MAP', fields: { ioas_id: '$ioas', flags: 'IOMMU_IOAS_MAP_READABLE|IOMMU_IOAS_MAP_WRITEABLE', user_va: '$buf.va', length: '8192' }, bind: { at: 'out.iova' } },
      { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_IOAS_UNMAP', fields: { ioas_id: '$ioas', iova: '$at', length: '8192' } },
    ]);
    const r = await judge(p, 'lie:automatic-iova-a-page-off');
    expect(r.broken, r.text).toContain('invariants.dma-confinement');
    expect(r.text).toMatch(/failed with ENOENT, but every area it reaches lies inside it/);
    expect(r.reference, r.text).toEqual([]);
  });

  check('suite.invariants.end-of-case-unmaps-each-area', async () => {
    // An automatic MAP into an IOAS no device reaches, answered a page above where it mapped: only
    // the end of the case, which unmaps each area by its exact range, can tell.
    const p = program('auto-map-no-device', [...open, { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_IOAS_MAP', fields: { ioas_id: '$ioas', flags: 'IOMMU_IOAS_MAP_READABLE|IOMMU_IOAS_MAP_WRITEABLE', user_va: '$buf.va', length: '8192' } }]);
    const r = await judge(p, 'lie:automatic-iova-a-page-off');
    expect(r.broken, r.text).toContain('invariants.dma-confinement');
    expect(r.text).toMatch(/at the end of the case, IOMMU_IOAS_UNMAP of exactly the area at 0x[0-9a-f]+\.\.0x[0-9a-f]+ in IOAS \d+ answered ENOENT/);
    expect(r.reference, r.text).toEqual([]);
  });
});

describe('every fd number comes back once everything is closed', () => {
  check('suite.invariants.fd-numbers-freed', async () => {
    // IOMMU_TEST_OP_CREATE_ACCESS on an id that is no IOAS reserves the access fd, then fails
    // (ENOENT); the number must be released with it, so the next open gets it.
    const p = program(
      'fd-numbers-freed',
      [
        { op: 'open', node: 'iommu', bind: { fd: 'fd' } },
        { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_TEST_CMD', fields: { op: 'IOMMU_TEST_OP_CREATE_ACCESS', id: 99, create_access: { flags: 0 } }, expect: { errno: ['ENOENT'] } },
        { op: 'open', node: 'iommu', bind: { fd2: 'fd' } },
      ],
      { testOps: ['IOMMU_TEST_OP_CREATE_ACCESS'] },
    );
    const r = await judge(p, 'conformance/mutants/unseen/create-access-attach-fail-leaks-fdno.ts');
    expect(r.broken, r.text).toContain('invariants.lifetime');
    expect(r.text).toMatch(/after every file and VM was closed, fd \d+ is still taken/);
    expect(r.reference, r.text).toEqual([]);
  });

  check('suite.invariants.fd-numbers-freed-from-the-start', async () => {
    // The case's first open answers ENODEV but leaves its file open: no number the case was handed
    // is taken, only the one below them all, which the number the oracle's own open got at the
    // case's start shows.
    const p = program('fd-numbers-freed-from-the-start', [
      { op: 'device_create', spec: { iommu: 'vtd0' }, bind: { d: 'device' } },
      { op: 'open_device', device: '$d' },
      { op: 'open', node: 'iommu', bind: { fd: 'fd' } },
    ], { ops: ['device_create', 'open_device'] });
    const r = await judge(p, 'lie:open-device-answers-failure');
    expect(r.broken, r.text).toContain('invariants.lifetime');
    expect(r.text).toMatch(/after every file and VM was closed, fd 3 is still taken/);
    expect(r.reference, r.text).toEqual([]);
  });
});

describe('an access is handed the pages mapped at its IOVAs', () => {
  check('suite.invariants.access-pages-are-mapped', async () => {
    // Two areas back to back over one buffer; a pin across both with uptr at the matching VA must
    // get the same pages (the selftest answers EBADE when they differ).
    const p = program(
      'access-pages-are-mapped',
      [
        { op: 'mem_alloc', length: 32768, hugeAligned: true, bind: { buf: '.' } },
        { op: 'open', node: 'iommu', bind: { fd: 'fd' } },
        { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_IOAS_ALLOC', fields: {}, bind: { ioas: 'out.out_ioas_id' } },
        { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_TEST_CMD', fields: { op: 'IOMMU_TEST_OP_CREATE_ACCESS', id: '$ioas', create_access: { flags: 'MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES' } }, bind: { acc: 'out.create_access.out_access_fd' } },
        { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_IOAS_MAP', fields: { ioas_id: '$ioas', flags: 'IOMMU_IOAS_MAP_FIXED_IOVA|IOMMU_IOAS_MAP_WRITEABLE|IOMMU_IOAS_MAP_READABLE', user_va: '$buf.va', length: '16384', iova: '0x1000000' } },
        { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_IOAS_MAP', fields: { ioas_id: '$ioas', flags: 'IOMMU_IOAS_MAP_FIXED_IOVA|IOMMU_IOAS_MAP_WRITEABLE|IOMMU_IOAS_MAP_READABLE', user_va: { $: 'buf', field: 'va', add: 16384 }, length: '16384', iova: '0x1004000' } },
        { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_TEST_CMD', fields: { op: 'IOMMU_TEST_OP_ACCESS_PAGES', id: '$acc', access_pages: { iova: '0x1002000', length: '16384', uptr: { $: 'buf', field: 'va', add: 8192 } } }, expect: { ok: true } },
      ],
      { testOps: ['IOMMU_TEST_OP_CREATE_ACCESS', 'IOMMU_TEST_OP_ACCESS_PAGES'] },
    );
    const r = await judge(p, 'conformance/mutants/unseen/access-pin-out-pages-not-advanced.ts');
    expect(r.broken, r.text).toContain('invariants.dma-confinement');
    expect(r.text).toMatch(/failed with EBADE .* the access was handed pages other than the ones mapped at those IOVAs/);
    expect(r.reference, r.text).toEqual([]);
  });
});

describe('an owned group takes a sibling of its owner', () => {
  check('suite.invariants.owned-group-never-ebusy', async () => {
    // d1 bound and attached in context a; d2 of its group binds to a too, the attachment aside.
    const p = program(
      'owned-group-never-ebusy',
      [
        { op: 'open', node: 'iommu', bind: { a: 'fd' } },
        { op: 'device_create', spec: { iommu: 'vtd0' }, bind: { d1: 'device', g: 'group' } },
        { op: 'device_create', spec: { iommu: 'vtd0', group: '$g' }, bind: { d2: 'device' } },
        { op: 'ioctl', fd: '$a', cmd: 'IOMMU_IOAS_ALLOC', fields: {}, bind: { ioas: 'out.out_ioas_id' } },
        { op: 'open_device', device: '$d1', bind: { f1: 'fd' } },
        { op: 'ioctl', fd: '$f1', cmd: 'VFIO_DEVICE_BIND_IOMMUFD', fields: { iommufd: '$a' } },
        { op: 'ioctl', fd: '$f1', cmd: 'VFIO_DEVICE_ATTACH_IOMMUFD_PT', fields: { pt_id: '$ioas' } },
        { op: 'open_device', device: '$d2', bind: { f2: 'fd' } },
        { op: 'ioctl', fd: '$f2', cmd: 'VFIO_DEVICE_BIND_IOMMUFD', fields: { iommufd: '$a' }, expect: { ok: true } },
      ],
      { ops: ['device_create', 'open_device'], commands: ['VFIO_DEVICE_BIND_IOMMUFD', 'VFIO_DEVICE_ATTACH_IOMMUFD_PT'] },
    );
    const r = await judge(p, 'conformance/mutants/unseen/claim-owned-group-busy-when-attached.ts');
    expect(r.broken, r.text).toContain('invariants.group-isolation');
    expect(r.text).toMatch(/failed with EBUSY while device \d+ of its iommu group is bound/);
    expect(r.reference, r.text).toEqual([]);
  });
});


describe('an id names one object until it is destroyed', () => {
  check('suite.invariants.ids-not-live', async () => {
    // A HWPT the user allocated, attached and left by its only device: it lives until DESTROY, so
    // the next IOAS may not take its id (the fault destroys it with its last device).
    const p = program(
      'ids-not-live',
      [
        { op: 'open', node: 'iommu', bind: { fd: 'fd' } },
        { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_IOAS_ALLOC', fields: {}, bind: { ioas: 'out.out_ioas_id' } },
        { op: 'device_create', spec: { iommu: 'amd0' }, bind: { d: 'device' } },
        { op: 'open_device', device: '$d', bind: { f: 'fd' } },
        { op: 'ioctl', fd: '$f', cmd: 'VFIO_DEVICE_BIND_IOMMUFD', fields: { iommufd: '$fd' }, bind: { dev: 'out.out_devid' } },
        { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_HWPT_ALLOC', fields: { dev_id: '$dev', pt_id: '$ioas' }, bind: { hwpt: 'out.out_hwpt_id' } },
        { op: 'ioctl', fd: '$f', cmd: 'VFIO_DEVICE_ATTACH_IOMMUFD_PT', fields: { pt_id: '$hwpt' } },
        { op: 'ioctl', fd: '$f', cmd: 'VFIO_DEVICE_DETACH_IOMMUFD_PT', fields: {} },
        { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_IOAS_ALLOC', fields: {} },
      ],
      { ops: ['device_create', 'open_device'], commands: ['VFIO_DEVICE_BIND_IOMMUFD', 'VFIO_DEVICE_ATTACH_IOMMUFD_PT', 'VFIO_DEVICE_DETACH_IOMMUFD_PT', 'IOMMU_HWPT_ALLOC'] },
    );
    const r = await judge(p, 'conformance/mutants/unseen/hwpt-put-destroys-user-hwpt.ts');
    expect(r.broken, r.text).toContain('invariants.lifetime');
    expect(r.text).toMatch(/IOMMU_IOAS_ALLOC answered out_ioas_id 3 for the object it created, but id 3 names a live hwpt paging/);
    expect(r.reference, r.text).toEqual([]);
  });
});

describe('an attach by IOAS id that nothing in the IOAS stands in the way of succeeds', () => {
  check('suite.invariants.attach-by-ioas-succeeds', async () => {
    // A vtd0 device on the IOAS first, then a vtd1 device whose unit the first domain does not fit:
    // the search must go on to a new automatic domain (the fault gives up on the driver's EINVAL).
    const p = program(
      'attach-by-ioas-succeeds',
      [
        ...context,
        ...device('d1', '$ioas'),
        ...bound('d2', 'vtd1'),
        { op: 'ioctl', fd: '$d2_fd', cmd: 'VFIO_DEVICE_ATTACH_IOMMUFD_PT', fields: { pt_id: '$ioas' }, expect: { ok: true } },
      ],
      { ops: ['device_create', 'open_device'], commands: ['VFIO_DEVICE_BIND_IOMMUFD', 'VFIO_DEVICE_ATTACH_IOMMUFD_PT'] },
    );
    const r = await judge(p, 'conformance/mutants/unseen/auto-domain-incompat-emediumtype.ts');
    expect(r.broken, r.text).toContain('invariants.lifetime');
    expect(r.text).toMatch(/VFIO_DEVICE_ATTACH_IOMMUFD_PT of device \d+ \(vtd1, .* failed with EINVAL, but the IOAS can take a domain of its unit/);
    expect(r.reference, r.text).toEqual([]);
    // The same for a replace: the attached device moves, by IOAS id, to an empty IOAS (the fault
    // asks the already attached group for an immediate attach).
    const q = program(
      'replace-by-ioas-succeeds',
      [
        ...open,
        { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_IOAS_ALLOC', fields: {}, bind: { ioas2: 'out.out_ioas_id' } },
        ...device('d', '$ioas'),
        { op: 'ioctl', fd: '$d_fd', cmd: 'VFIO_DEVICE_ATTACH_IOMMUFD_PT', fields: { pt_id: '$ioas2' }, expect: { ok: true } },
      ],
      { ops: ['device_create', 'open_device'], commands: ['VFIO_DEVICE_BIND_IOMMUFD', 'VFIO_DEVICE_ATTACH_IOMMUFD_PT'] },
    );
    const rq = await judge(q, 'conformance/mutants/unseen/auto-domain-immediate-attach-inverted.ts');
    expect(rq.broken, rq.text).toContain('invariants.lifetime');
    expect(rq.text).toMatch(/VFIO_DEVICE_ATTACH_IOMMUFD_PT of device \d+ \(vtd0, attached to HWPT \d+ with its group: a replace\) to IOAS \d+ failed with EINVAL/);
    expect(rq.reference, rq.text).toEqual([]);
  });
});

describe('a plain paging HWPT over an IOAS that can take it is allocated', () => {
  check('suite.invariants.paging-alloc-succeeds', async () => {
    // A page mapped (with a domain holding it), then an older caller's 24-byte HWPT_ALLOC: the fault
    // reads the rest of the struct from what the map left in the kernel's buffer, not as zeros.
    const p = program(
      'paging-alloc-succeeds',
      [
        ...open,
        ...device('d', '$ioas'),
        { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_IOAS_MAP', fields: { ioas_id: '$ioas', flags: 'IOMMU_IOAS_MAP_FIXED_IOVA|IOMMU_IOAS_MAP_WRITEABLE|IOMMU_IOAS_MAP_READABLE', user_va: '$buf.va', length: '4096', iova: '0x1000000' } },
        { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_HWPT_ALLOC', fields: { size: 24, dev_id: 2, pt_id: '$ioas' }, expect: { ok: true } },
      ],
      { ops: ['device_create', 'open_device'], commands: ['VFIO_DEVICE_BIND_IOMMUFD', 'VFIO_DEVICE_ATTACH_IOMMUFD_PT', 'IOMMU_HWPT_ALLOC'] },
    );
    const r = await judge(p, 'conformance/mutants/unseen/ucmd-buffer-tail-not-zeroed.ts');
    expect(r.broken, r.text).toContain('invariants.lifetime');
    expect(r.text).toMatch(/IOMMU_HWPT_ALLOC of a paging HWPT \(no flags, no driver data, an older caller’s 24-byte struct\) for device \d+ \(vtd0\) over IOAS \d+ failed with E[A-Z]+, but the IOAS can take a domain of its unit/);
    expect(r.reference, r.text).toEqual([]);
  });
});

describe('requests with nothing to refuse succeed', () => {
  check('suite.invariants.nothing-to-refuse', async () => {
    // The compat IOAS set to a live IOAS: the fault looks the id up as a paging HWPT (ENOENT).
    const p = program('nothing-to-refuse', [...context, { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_VFIO_IOAS', fields: { op: 'IOMMU_VFIO_IOAS_SET', ioas_id: '$ioas' }, expect: { ok: true } }], { commands: ['IOMMU_VFIO_IOAS'] });
    const r = await judge(p, 'conformance/mutants/fixtures/vfio-ioas-set-looks-up-hwpt.ts');
    expect(r.broken, r.text).toContain('invariants.abi-hygiene');
    expect(r.text).toMatch(/IOMMU_VFIO_IOAS failed with ENOENT, but IOMMU_VFIO_IOAS SET of IOAS 1, which lives, cannot fail/);
    expect(r.reference, r.text).toEqual([]);
  });
});

describe('an automatic map that a hole fits is placed', () => {
  check('suite.invariants.auto-map-fits', async () => {
    // The IOAS allows exactly 16 KiB: an automatic map of 16 KiB fits it exactly (the fault passes an
    // exact fit over and answers ENOSPC).
    const p = program('auto-map-fits', [
      ...open,
      { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_IOAS_ALLOW_IOVAS', fields: { ioas_id: '$ioas', num_iovas: 1, allowed_iovas: { data: { u64s: ['0x1000000', '0x1003fff'] } } } },
      { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_IOAS_MAP', fields: { ioas_id: '$ioas', flags: 'IOMMU_IOAS_MAP_WRITEABLE|IOMMU_IOAS_MAP_READABLE', user_va: '$buf.va', length: '16384' }, expect: { ok: true } },
    ]);
    const r = await judge(p, 'conformance/mutants/fixtures/alloc-iova-exact-fit-refused.ts');
    expect(r.broken, r.text).toContain('invariants.abi-hygiene');
    expect(r.text).toMatch(/IOMMU_IOAS_MAP of 0x4000 byte\(s\) at an automatic IOVA into IOAS 1 failed with ENOSPC, but the first-fit search finds 0x1000000\.\.0x1003fff free/);
    expect(r.reference, r.text).toEqual([]);
  });
});

describe('a copy over a hole in its source fails at the hole', () => {
  check('suite.invariants.copy-hole-enoent', async () => {
    // Two pages mapped with a page's hole between them, then a copy of all three: the walk stops at
    // the hole (ENOENT); the fault walks over it and fails later, inserting the second piece.
    const map = (iova: string, offset: number): Step => ({ op: 'ioctl', fd: '$fd', cmd: 'IOMMU_IOAS_MAP', fields: { ioas_id: '$ioas', flags: 'IOMMU_IOAS_MAP_FIXED_IOVA|IOMMU_IOAS_MAP_WRITEABLE|IOMMU_IOAS_MAP_READABLE', user_va: { $: 'buf', field: 'va', add: offset }, length: '4096', iova } });
    const p = program('copy-hole-enoent', [
      ...open,
      { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_IOAS_ALLOC', fields: {}, bind: { dst: 'out.out_ioas_id' } },
      map('0x1000000', 0),
      map('0x1002000', 8192),
      { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_IOAS_COPY', fields: { dst_ioas_id: '$dst', src_ioas_id: '$ioas', flags: 'IOMMU_IOAS_MAP_READABLE', src_iova: '0x1000000', length: '12288' }, expect: { errno: ['ENOENT'] } },
    ]);
    const r = await judge(p, 'conformance/mutants/unseen/contig-next-skips-gap.ts');
    expect(r.broken, r.text).toContain('invariants.dma-confinement');
    expect(r.text).toMatch(/IOMMU_IOAS_COPY of 0x1000000\.\.0x1002fff from IOAS 1 failed with E[A-Z]+, but IOAS 1 maps nothing at 0x1001000/);
    expect(r.reference, r.text).toEqual([]);
  });
});

describe('a domain takes the devices of the instance it was made for', () => {
  const amd = (name: string, coherent: boolean): Step[] => [
    { op: 'device_create', spec: { iommu: 'amd0', ...(!coherent && { enforceCacheCoherency: false }) }, bind: { [name]: 'device' } },
    { op: 'open_device', device: `$${name}`, bind: { [`${name}_fd`]: 'fd' } },
    { op: 'ioctl', fd: `$${name}_fd`, cmd: 'VFIO_DEVICE_BIND_IOMMUFD', fields: { iommufd: '$fd' } },
  ];
  check('suite.invariants.same-unit-attach', async () => {
    // Three amd0 devices: b (not coherent) makes the automatic HWPT, a (coherent) joins it, c (not
    // coherent) attaches to it by id. The fault upgrades the HWPT to enforcing when a joins.
    const p = program(
      'same-unit-attach',
      [
        ...context,
        ...amd('b', false),
        ...amd('a', true),
        ...amd('c', false),
        { op: 'ioctl', fd: '$b_fd', cmd: 'VFIO_DEVICE_ATTACH_IOMMUFD_PT', fields: { pt_id: '$ioas' }, bind: { hwpt: 'out.pt_id' } },
        { op: 'ioctl', fd: '$a_fd', cmd: 'VFIO_DEVICE_ATTACH_IOMMUFD_PT', fields: { pt_id: '$ioas' } },
        { op: 'ioctl', fd: '$c_fd', cmd: 'VFIO_DEVICE_ATTACH_IOMMUFD_PT', fields: { pt_id: '$hwpt' }, expect: { ok: true } },
      ],
      { ops: ['device_create', 'open_device'], commands: ['VFIO_DEVICE_BIND_IOMMUFD', 'VFIO_DEVICE_ATTACH_IOMMUFD_PT'] },
    );
    const r = await judge(p, 'conformance/mutants/unseen/attach-upgrades-hwpt-coherency.ts');
    expect(r.broken, r.text).toContain('invariants.lifetime');
    expect(r.text).toMatch(/VFIO_DEVICE_ATTACH_IOMMUFD_PT of device \d+ \(amd0, its group attached nowhere\) to HWPT \d+ failed with EINVAL, but HWPT \d+'s domain was allocated for a device of amd0 too/);
    expect(r.reference, r.text).toEqual([]);
  });
  check('suite.invariants.auto-domain-reused', async () => {
    // An amd0 device's automatic HWPT first, then two vtd0 devices by IOAS id: the second must join
    // the first vtd0 one (the fault's search ends at the amd0 HWPT's EINVAL and makes a third).
    const p = program(
      'auto-domain-reused',
      [
        ...context,
        ...amd('x', true),
        { op: 'ioctl', fd: '$x_fd', cmd: 'VFIO_DEVICE_ATTACH_IOMMUFD_PT', fields: { pt_id: '$ioas' } },
        ...device('d1', '$ioas'),
        ...device('d2', '$ioas'),
      ],
      { ops: ['device_create', 'open_device'], commands: ['VFIO_DEVICE_BIND_IOMMUFD', 'VFIO_DEVICE_ATTACH_IOMMUFD_PT'] },
    );
    const r = await judge(p, 'conformance/mutants/unseen/auto-domain-search-stops-at-incompatible.ts');
    expect(r.broken, r.text).toContain('invariants.lifetime');
    expect(r.text).toMatch(/VFIO_DEVICE_ATTACH_IOMMUFD_PT of device \d+ \(vtd0\) to IOAS 1 answered HWPT \d+, a new automatic domain, but automatic HWPT \d+ of that IOAS was made for vtd0 too/);
    expect(r.reference, r.text).toEqual([]);
  });
});

describe('raising an IOAS\u2019s alignment leaves no area off it', () => {
  check('suite.invariants.areas-aligned', async () => {
    // A page mapped from a user address one byte into its page (the IOAS's alignment is 1), then a
    // pinning access: the kernel refuses it (EADDRINUSE), the fault lets it raise the alignment.
    const p = program('areas-aligned', [
      ...open,
      { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_IOAS_MAP', fields: { ioas_id: '$ioas', flags: 'IOMMU_IOAS_MAP_FIXED_IOVA|IOMMU_IOAS_MAP_WRITEABLE|IOMMU_IOAS_MAP_READABLE', user_va: { $: 'buf', field: 'va', add: 1 }, length: '4096', iova: '0x1000000' } },
      { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_TEST_CMD', fields: { op: 'IOMMU_TEST_OP_CREATE_ACCESS', id: '$ioas', create_access: { flags: 'MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES' } }, expect: { errno: ['EADDRINUSE'] } },
    ], { testOps: ['IOMMU_TEST_OP_CREATE_ACCESS'] });
    const r = await judge(p, 'conformance/mutants/unseen/check-iova-alignment-skips-page-offset.ts');
    expect(r.broken, r.text).toContain('invariants.dma-confinement');
    expect(r.text).toMatch(/IOMMU_TEST_CMD\/IOMMU_TEST_OP_CREATE_ACCESS succeeded and IOAS 1's alignment is now 4096 .* but its area at 0x1000000\.\.0x1000fff .* is not aligned to it/);
    expect(r.reference, r.text).toEqual([]);
  });
});

describe('an access belongs to its own context', () => {
  check('suite.invariants.access-replace-succeeds', async () => {
    // Context A holds IOASes 1 and 2 and an access on 1; the replace to 2 comes through context B's
    // iommufd, which holds no IOAS: the access's own context decides (the fault asks B's).
    const p = program('access-replace-succeeds', [
      ...context,
      { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_IOAS_ALLOC', fields: {}, bind: { ioas2: 'out.out_ioas_id' } },
      { op: 'open', node: 'iommu', bind: { other: 'fd' } },
      { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_TEST_CMD', fields: { op: 'IOMMU_TEST_OP_CREATE_ACCESS', id: '$ioas', create_access: { flags: 0 } }, bind: { access: 'out.create_access.out_access_fd' } },
      { op: 'ioctl', fd: '$other', cmd: 'IOMMU_TEST_CMD', fields: { op: 'IOMMU_TEST_OP_ACCESS_REPLACE_IOAS', id: '$access', access_replace_ioas: { ioas_id: '$ioas2' } }, expect: { ok: true } },
    ], { testOps: ['IOMMU_TEST_OP_CREATE_ACCESS', 'IOMMU_TEST_OP_ACCESS_REPLACE_IOAS'] });
    const r = await judge(p, 'conformance/mutants/unseen/access-replace-ioas-caller-ctx.ts');
    expect(r.broken, r.text).toContain('invariants.lifetime');
    expect(r.text).toMatch(/IOMMU_TEST_OP_ACCESS_REPLACE_IOAS of an access on IOAS 1 to IOAS 2 failed with ENOENT, but IOAS 2 is live in the access's own context/);
    expect(r.reference, r.text).toEqual([]);
  });
  check('suite.invariants.access-item-destroyed-once', async () => {
    // An item pinned, then the same pin with a read-only argument (EFAULT on the copy-back, its item
    // taken back), then DESTROY_ACCESS_PAGES of the id that pin took: the fault left the item listed.
    const pin = { op: 'IOMMU_TEST_OP_ACCESS_PAGES', id: '$access', access_pages: { iova: '0x1000000', length: '8192', uptr: '$buf.va' } };
    const p = program('access-item-destroyed-once', [
      ...open,
      { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_IOAS_MAP', fields: { ioas_id: '$ioas', flags: 'IOMMU_IOAS_MAP_FIXED_IOVA|IOMMU_IOAS_MAP_WRITEABLE|IOMMU_IOAS_MAP_READABLE', user_va: '$buf.va', length: '16384', iova: '0x1000000' } },
      { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_TEST_CMD', fields: { op: 'IOMMU_TEST_OP_CREATE_ACCESS', id: '$ioas', create_access: { flags: 'MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES' } }, bind: { access: 'out.create_access.out_access_fd' } },
      { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_TEST_CMD', fields: pin, bind: { item: 'out.access_pages.out_access_pages_id' } },
      { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_TEST_CMD', readOnly: true, fields: pin, expect: { errno: ['EFAULT'] } },
      { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_TEST_CMD', fields: { op: 'IOMMU_TEST_OP_DESTROY_ACCESS_PAGES', id: '$access', destroy_access_pages: { access_pages_id: { $: 'item', add: 1 } } }, expect: { errno: ['ENOENT'] } },
    ], { testOps: ['IOMMU_TEST_OP_CREATE_ACCESS', 'IOMMU_TEST_OP_ACCESS_PAGES', 'IOMMU_TEST_OP_DESTROY_ACCESS_PAGES'] });
    const r = await judge(p, 'conformance/mutants/unseen/access-pages-efault-keeps-item.ts');
    expect(r.broken, r.text).toContain('invariants.lifetime');
    expect(r.text).toMatch(/IOMMU_TEST_OP_DESTROY_ACCESS_PAGES of item 1 succeeded, but the access holds no such item/);
    expect(r.reference, r.text).toEqual([]);
  });
});

describe('a mock device reports its own PASID width', () => {
  check('suite.invariants.mock-pasid-width', async () => {
    // A mock device with MOCK_FLAGS_DEVICE_PASID, then a plain one: the plain one has no PASIDs
    // (the fault's property table is static and keeps the first device's 20 bits).
    const p = program('mock-pasid-width', [
      ...context,
      { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_TEST_CMD', fields: { op: 'IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS', id: '$ioas', mock_domain_flags: { dev_flags: 'MOCK_FLAGS_DEVICE_PASID' } } },
      { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_TEST_CMD', fields: { op: 'IOMMU_TEST_OP_MOCK_DOMAIN', id: '$ioas', mock_domain: {} }, bind: { idev: 'out.mock_domain.out_idev_id' } },
      { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_GET_HW_INFO', fields: { dev_id: '$idev' }, expect: { ok: true } },
    ], { testOps: ['IOMMU_TEST_OP_MOCK_DOMAIN', 'IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS'] }, ['7.3']);
    const r = await judge(p, 'conformance/mutants/unseen/mock-dev-pasid-prop-static.ts');
    expect(r.broken, r.text).toContain('invariants.abi-hygiene');
    expect(r.text).toMatch(/IOMMU_GET_HW_INFO answered out_max_pasid_log2 20 for mock device .*, made without MOCK_FLAGS_DEVICE_PASID/);
    expect(r.reference, r.text).toEqual([]);
  });
});

describe('turning large IOPTEs back on cannot fail', () => {
  check('suite.invariants.option-huge-pages-on-succeeds', async () => {
    // Large pages off, a domain and an area, then on again: iopt_enable_large_pages returns nothing.
    const p = program(
      'option-huge-pages-on-succeeds',
      [
        { op: 'mem_alloc', length: 16384, bind: { buf: '.' } },
        { op: 'open', node: 'iommu', bind: { fd: 'fd' } },
        { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_IOAS_ALLOC', fields: {}, bind: { ioas: 'out.out_ioas_id' } },
        { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_OPTION', fields: { option_id: 'IOMMU_OPTION_HUGE_PAGES', op: 'IOMMU_OPTION_OP_SET', object_id: '$ioas', val64: '0' } },
        { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_TEST_CMD', fields: { op: 'IOMMU_TEST_OP_MOCK_DOMAIN', id: '$ioas', mock_domain: {} } },
        { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_IOAS_MAP', fields: { ioas_id: '$ioas', flags: 'IOMMU_IOAS_MAP_FIXED_IOVA|IOMMU_IOAS_MAP_WRITEABLE|IOMMU_IOAS_MAP_READABLE', user_va: '$buf.va', length: '16384', iova: '0x1000000' } },
        { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_OPTION', fields: { option_id: 'IOMMU_OPTION_HUGE_PAGES', op: 'IOMMU_OPTION_OP_SET', object_id: '$ioas', val64: '1' }, expect: { ok: true } },
      ],
      { testOps: ['IOMMU_TEST_OP_MOCK_DOMAIN'] },
    );
    const r = await judge(p, 'conformance/mutants/unseen/option-enable-large-pages-busy.ts');
    expect(r.broken, r.text).toContain('invariants.abi-hygiene');
    expect(r.text).toMatch(/IOMMU_OPTION failed with EINVAL, but a SET of IOAS \d+'s HUGE_PAGES to 1/);
    expect(r.reference, r.text).toEqual([]);
    // Large pages off on an IOAS whose only area is gone, and the accounting mode chosen in a context
    // whose only object is destroyed: the fault remembers that there were some.
    const setOption = (option: string, object: string | number, val: string): Step => ({ op: 'ioctl', fd: '$fd', cmd: 'IOMMU_OPTION', fields: { option_id: option, op: 'IOMMU_OPTION_OP_SET', object_id: object, val64: val }, expect: { ok: true } });
    const sticky = 'conformance/mutants/fixtures/option-set-sticky-state.ts';
    const mapped: Step[] = [
      ...open,
      { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_IOAS_MAP', fields: { ioas_id: '$ioas', flags: 'IOMMU_IOAS_MAP_FIXED_IOVA|IOMMU_IOAS_MAP_WRITEABLE|IOMMU_IOAS_MAP_READABLE', user_va: '$buf.va', length: '16384', iova: '0x1000000' } },
      { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_IOAS_UNMAP', fields: { ioas_id: '$ioas', iova: '0x1000000', length: '16384' } },
    ];
    const off = await judge(program('option-huge-pages-off-succeeds', [...mapped, setOption('IOMMU_OPTION_HUGE_PAGES', '$ioas', '0')]), sticky);
    expect(off.broken, off.text).toContain('invariants.abi-hygiene');
    expect(off.text).toMatch(/IOMMU_OPTION failed with EINVAL, but a SET of IOAS 1's HUGE_PAGES to 0 on an IOAS with no area/);
    expect(off.reference, off.text).toEqual([]);
    const mode = await judge(
      program('option-rlimit-mode-succeeds', [...mapped, { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_DESTROY', fields: { id: '$ioas' } }, { op: 'set_process', capSysResource: true }, setOption('IOMMU_OPTION_RLIMIT_MODE', 0, '1')], { ops: ['set_process'] }),
      sticky,
    );
    expect(mode.broken, mode.text).toContain('invariants.abi-hygiene');
    expect(mode.text).toMatch(/IOMMU_OPTION failed with EBUSY, but a SET of RLIMIT_MODE to 1 by a process with CAP_SYS_RESOURCE in a context that holds no object/);
    expect(mode.reference, mode.text).toEqual([]);
  });
});

describe('type1 GET_INFO reports the page sizes every domain can map', () => {
  check('suite.invariants.compat-page-sizes', async () => {
    // vtd0 (with 1 GiB pages) and vtd1 (without) on the compat IOAS: only what both map.
    const p = program(
      'compat-page-sizes',
      [
        ...context,
        { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_VFIO_IOAS', fields: { op: 'IOMMU_VFIO_IOAS_SET', ioas_id: '$ioas' } },
        ...device('d1', '$ioas'),
        ...bound('d2', 'vtd1'),
        { op: 'ioctl', fd: '$d2_fd', cmd: 'VFIO_DEVICE_ATTACH_IOMMUFD_PT', fields: { pt_id: '$ioas' } },
        { op: 'ioctl', fd: '$fd', cmd: 'VFIO_IOMMU_GET_INFO', fields: {} },
      ],
      { ops: ['device_create', 'open_device'], commands: ['IOMMU_VFIO_IOAS', 'VFIO_DEVICE_BIND_IOMMUFD', 'VFIO_DEVICE_ATTACH_IOMMUFD_PT', 'VFIO_IOMMU_GET_INFO'] },
    );
    const r = await judge(p, 'conformance/mutants/unseen/compat-pgsizes-first-domain.ts');
    expect(r.broken, r.text).toContain('invariants.abi-hygiene');
    expect(r.text).toMatch(/VFIO_IOMMU_GET_INFO answered iova_pgsizes 0x40201000, but the domains of compat IOAS \d+ can all map only 0x201000/);
    expect(r.reference, r.text).toEqual([]);
  });
});

describe('a type1 v1 unmap inside a mapping cuts it', () => {
  check('suite.invariants.type1-cut-succeeds', async () => {
    // A type1 v1 container over a domain, 64 KiB mapped, one page in the middle unmapped: both cut
    // points are page aligned and no access holds the pages (the fault refuses every cut of an
    // area a domain holds).
    const p = program(
      'type1-cut-succeeds',
      [
        ...withBuffer(65536),
        ...device('d', '$ioas'),
        { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_VFIO_IOAS', fields: { op: 'IOMMU_VFIO_IOAS_SET', ioas_id: '$ioas' } },
        { op: 'ioctl', fd: '$fd', cmd: 'VFIO_SET_IOMMU', arg: { kind: 'int', value: 'VFIO_TYPE1_IOMMU' } },
        { op: 'ioctl', fd: '$fd', cmd: 'VFIO_IOMMU_MAP_DMA', fields: { flags: 'VFIO_DMA_MAP_FLAG_READ|VFIO_DMA_MAP_FLAG_WRITE', vaddr: '$buf.va', size: '65536', iova: '0x1000000' } },
        { op: 'ioctl', fd: '$fd', cmd: 'VFIO_IOMMU_UNMAP_DMA', fields: { size: '4096', iova: '0x1004000' }, expect: { ok: true } },
      ],
      { ops: ['device_create', 'open_device'], commands: ['VFIO_DEVICE_BIND_IOMMUFD', 'VFIO_DEVICE_ATTACH_IOMMUFD_PT', 'IOMMU_VFIO_IOAS', 'VFIO_SET_IOMMU', 'VFIO_IOMMU_MAP_DMA', 'VFIO_IOMMU_UNMAP_DMA'] },
    );
    const r = await judge(p, 'conformance/mutants/unseen/split-large-page-guard-inverted.ts');
    expect(r.broken, r.text).toContain('invariants.abi-hygiene');
    expect(r.text).toMatch(/VFIO_IOMMU_UNMAP_DMA of 0x1004000\.\.0x1004fff on compat IOAS \d+ \(large pages off: type1 v1 cuts\) failed with EINVAL/);
    expect(r.reference, r.text).toEqual([]);
    // One byte into a mapping: the cut at its first byte is none (iopt_area_split returns 0 at
    // either end), so the mapping stays whole across the range's start and the unmap is ENOENT,
    // in the kernel and the reference alike (found by the suite at seed 78 on 6.12).
    const q = program('type1-cut-at-area-start', [
      ...context,
      { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_VFIO_IOAS', fields: { op: 'IOMMU_VFIO_IOAS_SET', ioas_id: '$ioas' } },
      { op: 'ioctl', fd: '$fd', cmd: 'VFIO_SET_IOMMU', arg: { kind: 'int', value: 'VFIO_TYPE1_IOMMU' } },
      { op: 'mem_alloc', length: 131072, hugeAligned: true, bind: { buf: '.' } },
      { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_IOAS_MAP', fields: { ioas_id: '$ioas', flags: 'IOMMU_IOAS_MAP_FIXED_IOVA|IOMMU_IOAS_MAP_READABLE|IOMMU_IOAS_MAP_WRITEABLE', user_va: '$buf.va', length: '16384', iova: '0x4000' } },
      { op: 'ioctl', fd: '$fd', cmd: 'VFIO_IOMMU_UNMAP_DMA', fields: { size: '16384', iova: '0x4001' }, expect: { errno: ['ENOENT'] } },
    ], { commands: ['IOMMU_VFIO_IOAS', 'VFIO_SET_IOMMU', 'IOMMU_IOAS_MAP', 'VFIO_IOMMU_UNMAP_DMA'] });
    for (const profile of ['6.12', '7.3'] as const) {
      const onRef = await replayProgram(q, { impl: 'ref', profile, oracle: 'invariants' });
      expect(onRef.objections.map((o) => o.property), onRef.text).toEqual([]);
    }
  });

  check('suite.invariants.type1-enoent-unmapped-nothing', async () => {
    // A refused type1 v2 unmap (large pages on: IOAS_UNMAP's walk) that covers one area and cuts
    // the next (ENOENT) leaves the first open, which turns the type1 cut rule off for the IOAS.
    // Large pages are turned off (type1 unmaps cut from then on), and the first page of a 16 KiB
    // mapping is unmapped (a cut) but the answer says ENOENT. The cuts leave every area the range
    // meets inside it, so ENOENT would mean the range met nothing and nothing changed: the shadow
    // keeps the page mapped, and the end of the case finds it gone (before, any failed type1 unmap
    // left what it overlapped open, and nothing looked again).
    const p = program('type1-enoent-unmapped-nothing', [
      ...withBuffer(65536),
      { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_IOAS_MAP', fields: { ioas_id: '$ioas', flags: 'IOMMU_IOAS_MAP_FIXED_IOVA|IOMMU_IOAS_MAP_READABLE|IOMMU_IOAS_MAP_WRITEABLE', user_va: '$buf.va', length: '4096', iova: '0x200000' } },
      { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_IOAS_MAP', fields: { ioas_id: '$ioas', flags: 'IOMMU_IOAS_MAP_FIXED_IOVA|IOMMU_IOAS_MAP_READABLE|IOMMU_IOAS_MAP_WRITEABLE', user_va: '$buf.va', length: '8192', iova: '0x201000' } },
      { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_VFIO_IOAS', fields: { op: 'IOMMU_VFIO_IOAS_SET', ioas_id: '$ioas' } },
      { op: 'ioctl', fd: '$fd', cmd: 'VFIO_SET_IOMMU', arg: { kind: 'int', value: 'VFIO_TYPE1v2_IOMMU' } },
      { op: 'ioctl', fd: '$fd', cmd: 'VFIO_IOMMU_UNMAP_DMA', fields: { flags: 0, iova: '0x200000', size: '8192' }, expect: { errno: ['ENOENT'] } },
      { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_OPTION', fields: { option_id: 'IOMMU_OPTION_HUGE_PAGES', op: 'IOMMU_OPTION_OP_SET', object_id: '$ioas', val64: '0' }, expect: { ok: true } },
      { op: 'ioctl', fd: '$fd', cmd: 'VFIO_IOMMU_MAP_DMA', fields: { flags: 'VFIO_DMA_MAP_FLAG_READ|VFIO_DMA_MAP_FLAG_WRITE', vaddr: '$buf.va', iova: '0x100000', size: '16384' } },
      { op: 'ioctl', fd: '$fd', cmd: 'VFIO_IOMMU_UNMAP_DMA', fields: { flags: 0, iova: '0x100000', size: '4096' } },
    ]);
    const r = await judge(p, 'lie:unmap-answers-enoent');
    expect(r.broken.length, r.text).toBeGreaterThan(0);
    expect(r.text).toMatch(/at the end of the case/);
    expect(r.reference, r.text).toEqual([]);
  });
});

describe('a fixed map of free, allowed, aligned IOVA fails only for its pages', () => {
  check('suite.invariants.fixed-map-succeeds', async () => {
    // A VT-d domain, a page mapped and unmapped (its lower table stays, empty), then 2 MiB over
    // it from a huge-aligned buffer: the fault takes the empty table for a mapping (EADDRINUSE).
    const p = program(
      'fixed-map-succeeds',
      [
        ...withBuffer(4194304),
        ...device('d', '$ioas'),
        { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_IOAS_MAP', fields: { ioas_id: '$ioas', flags: 'IOMMU_IOAS_MAP_FIXED_IOVA|IOMMU_IOAS_MAP_WRITEABLE|IOMMU_IOAS_MAP_READABLE', user_va: '$buf.va', length: '4096', iova: '0x40000000' } },
        { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_IOAS_UNMAP', fields: { ioas_id: '$ioas', iova: '0x40000000', length: '4096' } },
        { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_IOAS_MAP', fields: { ioas_id: '$ioas', flags: 'IOMMU_IOAS_MAP_FIXED_IOVA|IOMMU_IOAS_MAP_WRITEABLE|IOMMU_IOAS_MAP_READABLE', user_va: '$buf.va', length: '2097152', iova: '0x40000000' }, expect: { ok: true } },
      ],
      { ops: ['device_create', 'open_device'], commands: ['VFIO_DEVICE_BIND_IOMMUFD', 'VFIO_DEVICE_ATTACH_IOMMUFD_PT'] },
      ['7.3'],
    );
    const r = await judge(p, 'conformance/mutants/unseen/pt-map-leaf-single-over-table-busy.ts');
    expect(r.broken, r.text).toContain('invariants.abi-hygiene');
    expect(r.text).toMatch(/IOMMU_IOAS_MAP of 0x40000000\.\.0x401fffff \(FIXED_IOVA\) into IOAS \d+ failed with EADDRINUSE, but that IOVA is free/);
    expect(r.reference, r.text).toEqual([]);
    // The one refusal of such a range for its permission: a read-only map where a VT-d nesting parent holds the IOAS.
    const q = program(
      'nest-parent-read-only',
      [
        ...withBuffer(8192),
        { op: 'device_create', spec: { iommu: 'vtd0' }, bind: { d: 'device' } },
        { op: 'open_device', device: '$d', bind: { d_fd: 'fd' } },
        { op: 'ioctl', fd: '$d_fd', cmd: 'VFIO_DEVICE_BIND_IOMMUFD', fields: { iommufd: '$fd' }, bind: { d_id: 'out.out_devid' } },
        { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_HWPT_ALLOC', fields: { flags: 'IOMMU_HWPT_ALLOC_NEST_PARENT', dev_id: '$d_id', pt_id: '$ioas' }, expect: { ok: true } },
        { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_IOAS_MAP', fields: { ioas_id: '$ioas', flags: 'IOMMU_IOAS_MAP_FIXED_IOVA|IOMMU_IOAS_MAP_READABLE', user_va: '$buf.va', length: '4096', iova: '0x100000' }, expect: { errno: ['EINVAL'] } },
      ],
      { ops: ['device_create', 'open_device'], commands: ['VFIO_DEVICE_BIND_IOMMUFD', 'IOMMU_HWPT_ALLOC'] },
    );
    const onRef = await replayProgram(q, { impl: 'ref', profile: '7.3', oracle: 'invariants' });
    expect(onRef.text).toMatch(/IOMMU_IOAS_MAP, \{ioas_id: \$ioas, flags: 5,[^\n]*\n\s*→ -1 EINVAL/);
    expect(onRef.objections, onRef.text).toEqual([]);
  });
});

describe('an access op over what its IOAS maps succeeds', () => {
  const pinAccess: Step = { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_TEST_CMD', fields: { op: 'IOMMU_TEST_OP_CREATE_ACCESS', id: '$ioas', create_access: { flags: 'MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES' } }, bind: { access: 'out.create_access.out_access_fd' } };
  const mapAt = (iova: string, add: number): Step => ({ op: 'ioctl', fd: '$fd', cmd: 'IOMMU_IOAS_MAP', fields: { ioas_id: '$ioas', flags: 'IOMMU_IOAS_MAP_FIXED_IOVA|IOMMU_IOAS_MAP_WRITEABLE|IOMMU_IOAS_MAP_READABLE', user_va: { $: 'buf', field: 'va', add }, length: '65536', iova } });
  const testOps = { commands: ['IOMMU_TEST_CMD'], testOps: ['IOMMU_TEST_OP_CREATE_ACCESS', 'IOMMU_TEST_OP_ACCESS_RW', 'IOMMU_TEST_OP_ACCESS_PAGES'] };

  check('suite.invariants.access-ops-succeed', async () => {
    // A refused partial unmap (ENOENT: the range cuts the area) removes nothing; the fault has
    // already marked the area prevent_access, so the access's read of it is refused (EINVAL).
    const afterRefusedUnmap = program(
      'access-after-refused-unmap',
      [
        ...withBuffer(65536),
        mapAt('0x1000000', 0),
        pinAccess,
        { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_IOAS_UNMAP', fields: { ioas_id: '$ioas', iova: '0x1000000', length: '4096' }, expect: { errno: ['ENOENT'] } },
        { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_TEST_CMD', fields: { op: 'IOMMU_TEST_OP_ACCESS_RW', id: '$access', access_rw: { iova: '0x1000000', length: '16', uptr: '$buf.va' } } },
      ],
      testOps,
    );
    const r = await judge(afterRefusedUnmap, 'conformance/mutants/unseen/unmap-prevent-access-before-cut-check.ts');
    expect(r.text).toMatch(/IOMMU_TEST_OP_ACCESS_RW \(a read\) of 0x1000000\.\.0x100000f failed with EINVAL, but IOAS \d+, the access's, maps all of it with READ/);
    expect(r.reference, r.text).toEqual([]);
    // A pin across the seam of two maps of one buffer, each piece page aligned: the fault tests the
    // first piece's start twice where it should test its end (iopt_area_contig_is_aligned).
    const acrossSeam = program(
      'pin-across-seam',
      [...withBuffer(131072), pinAccess, mapAt('0x1000000', 0), mapAt('0x1010000', 65536), { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_TEST_CMD', fields: { op: 'IOMMU_TEST_OP_ACCESS_PAGES', id: '$access', access_pages: { iova: '0x100f000', length: '8192', uptr: { $: 'buf', field: 'va', add: 61440 } } } }],
      testOps,
    );
    const s = await judge(acrossSeam, 'conformance/mutants/unseen/access-contig-end-check-from-cur.ts');
    expect(s.broken, s.text).toContain('invariants.lifetime');
    expect(s.text).toMatch(/IOMMU_TEST_OP_ACCESS_PAGES \(a read pin\) of 0x100f000\.\.0x1010fff failed with EINVAL/);
    expect(s.reference, s.text).toEqual([]);
    // The same pin where the first map ends off a page boundary of its pages is refused by the kernel too.
    const offPage = program(
      'pin-across-unaligned-seam',
      [
        ...withBuffer(131072),
        { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_IOAS_MAP', fields: { ioas_id: '$ioas', flags: 'IOMMU_IOAS_MAP_FIXED_IOVA|IOMMU_IOAS_MAP_WRITEABLE|IOMMU_IOAS_MAP_READABLE', user_va: '$buf.va', length: '65534', iova: '0x1000000' } },
        { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_IOAS_MAP', fields: { ioas_id: '$ioas', flags: 'IOMMU_IOAS_MAP_FIXED_IOVA|IOMMU_IOAS_MAP_WRITEABLE|IOMMU_IOAS_MAP_READABLE', user_va: { $: 'buf', field: 'va', add: 65536 }, length: '65536', iova: '0x100fffe' } },
        { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_TEST_CMD', fields: { op: 'IOMMU_TEST_OP_CREATE_ACCESS', id: '$ioas', create_access: { flags: 0 } }, bind: { rw: 'out.create_access.out_access_fd' } },
        { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_TEST_CMD', fields: { op: 'IOMMU_TEST_OP_ACCESS_RW', id: '$rw', access_rw: { iova: '0x100fff0', length: '32', uptr: '$buf.va' } }, expect: { ok: true } },
      ],
      testOps,
    );
    const onRef = await replayProgram(offPage, { impl: 'ref', profile: '7.3', oracle: 'invariants' });
    expect(onRef.objections, onRef.text).toEqual([]);
    // The iommufd closed and its number taken by a device file: an access op sent there is that
    // file's to answer (an unbound device file: EINVAL), not the selftest's (found by the suite at
    // seed 78 on 6.12).
    const onDeviceFile = program('access-op-on-a-reused-number', [
      ...withBuffer(16384),
      { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_TEST_CMD', fields: { op: 'IOMMU_TEST_OP_MOCK_DOMAIN', id: '$ioas', mock_domain: {} } },
      { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_IOAS_MAP', fields: { ioas_id: '$ioas', flags: 'IOMMU_IOAS_MAP_FIXED_IOVA|IOMMU_IOAS_MAP_READABLE|IOMMU_IOAS_MAP_WRITEABLE', user_va: '$buf.va', length: '16384', iova: '0x1000000' } },
      { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_TEST_CMD', fields: { op: 'IOMMU_TEST_OP_CREATE_ACCESS', id: '$ioas', create_access: { flags: 'MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES' } }, bind: { afd: 'out.create_access.out_access_fd' } },
      { op: 'close', fd: '$fd' },
      { op: 'device_create', spec: { iommu: 'vtd0' }, bind: { d: 'device' } },
      { op: 'open_device', device: '$d', bind: { dfd: 'fd' } },
      { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_TEST_CMD', fields: { op: 'IOMMU_TEST_OP_ACCESS_PAGES', id: '$afd', access_pages: { flags: 0, iova: '0x1000000', length: '4096', uptr: '0' } }, expect: { ok: false } },
    ], { ops: ['device_create', 'open_device'], testOps: ['IOMMU_TEST_OP_MOCK_DOMAIN', 'IOMMU_TEST_OP_CREATE_ACCESS', 'IOMMU_TEST_OP_ACCESS_PAGES'] });
    for (const profile of ['6.12', '7.3'] as const) {
      const onRef = await replayProgram(onDeviceFile, { impl: 'ref', profile, oracle: 'invariants' });
      expect(onRef.objections.map((o) => o.property), onRef.text).toEqual([]);
    }
  });
});

describe('a device that joins an IOAS translates its pages', () => {
  check('suite.invariants.joining-device-translates-the-ioas', async () => {
    // Sixteen pages mapped, then a device attached by IOAS id: its new domain is filled from the
    // area (iopt_area_fill_domain). The fixture fills the sixth page with the seventh's frame; the
    // step's own probes look at one page, so the join's translation sweep is what sees it, at the attach.
    const p = program(
      'join-fill-wrong-frame',
      [
        ...withBuffer(65536),
        { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_IOAS_MAP', fields: { ioas_id: '$ioas', flags: 'IOMMU_IOAS_MAP_FIXED_IOVA|IOMMU_IOAS_MAP_READABLE|IOMMU_IOAS_MAP_WRITEABLE', user_va: '$buf.va', length: '65536', iova: '0x1000000' } },
        ...device('d', '$ioas'),
      ],
      { ops: ['device_create', 'open_device'], commands: ['VFIO_DEVICE_BIND_IOMMUFD', 'VFIO_DEVICE_ATTACH_IOMMUFD_PT'] },
    );
    const broken = await replayProgram(p, { impl: 'conformance/mutants/fixtures/fill-maps-wrong-frame.ts', profile: '7.3', oracle: 'invariants' });
    const attachStep = p.steps.length;
    expect(broken.objections.length, broken.text).toBeGreaterThan(0);
    expect(broken.objections[0]?.step, broken.text).toBe(attachStep);
    expect(broken.text).toContain('0x1005000');
    const onRef = await replayProgram(p, { impl: 'ref', profile: '7.3', oracle: 'invariants' });
    expect(onRef.objections, onRef.text).toEqual([]);
  });

  check('suite.invariants.end-sweep-covers-the-ioas', async () => {
    // 48 pages: the join's 32 translations take every other page and miss the odd wrong ones
    // (pages 5, 21 and 37); the end of the case translates up to 64 pages of each device's IOAS,
    // here all of them, where the ends and middle of each area alone (pages 0, 23, 47) saw nothing.
    const p = program(
      'end-sweep-fill-wrong-frame',
      [
        ...withBuffer(196608),
        { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_IOAS_MAP', fields: { ioas_id: '$ioas', flags: 'IOMMU_IOAS_MAP_FIXED_IOVA|IOMMU_IOAS_MAP_READABLE|IOMMU_IOAS_MAP_WRITEABLE', user_va: '$buf.va', length: '196608', iova: '0x1000000' } },
        ...device('d', '$ioas'),
      ],
      { ops: ['device_create', 'open_device'], commands: ['VFIO_DEVICE_BIND_IOMMUFD', 'VFIO_DEVICE_ATTACH_IOMMUFD_PT'] },
    );
    const broken = await replayProgram(p, { impl: 'conformance/mutants/fixtures/fill-maps-wrong-frame.ts', profile: '7.3', oracle: 'invariants' });
    expect(broken.objections.map((o) => o.property), broken.text).toContain('invariants.dma-confinement');
    expect(broken.text).toMatch(/translates 0x10(05|15|25)000 to buffer 1 \+ \d+, but IOAS \d+ maps/);
    const onRef = await replayProgram(p, { impl: 'ref', profile: '7.3', oracle: 'invariants' });
    expect(onRef.objections, onRef.text).toEqual([]);
  });
});

describe('a replace whose answer cannot be copied back moves the group, then detaches the device', () => {
  check('suite.invariants.failed-replace-leaves-group-moved', async () => {
    // Two devices of a group on one HWPT; a replace of the second onto another HWPT, its struct in
    // read-only memory: the whole group moves (iommufd_device_do_replace), the pt_id copy-back
    // faults, and out_detach detaches the second device alone (vfio_df_ioctl_attach_pt). The first
    // stays on the HWPT the replace named, which is now busy, while the one they left is free.
    const p = program(
      'replace-answer-fault',
      [
        ...context,
        { op: 'device_create', spec: { iommu: 'vtd0' }, bind: { a: 'device', g: 'group' } },
        { op: 'device_create', spec: { iommu: 'vtd0', group: '$g' }, bind: { b: 'device' } },
        { op: 'open_device', device: '$a', bind: { a_fd: 'fd' } },
        { op: 'open_device', device: '$b', bind: { b_fd: 'fd' } },
        { op: 'ioctl', fd: '$a_fd', cmd: 'VFIO_DEVICE_BIND_IOMMUFD', fields: { iommufd: '$fd' }, bind: { devid: 'out.out_devid' } },
        { op: 'ioctl', fd: '$b_fd', cmd: 'VFIO_DEVICE_BIND_IOMMUFD', fields: { iommufd: '$fd' } },
        { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_HWPT_ALLOC', fields: { dev_id: '$devid', pt_id: '$ioas' }, bind: { left: 'out.out_hwpt_id' } },
        { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_HWPT_ALLOC', fields: { dev_id: '$devid', pt_id: '$ioas' }, bind: { named: 'out.out_hwpt_id' } },
        { op: 'ioctl', fd: '$a_fd', cmd: 'VFIO_DEVICE_ATTACH_IOMMUFD_PT', fields: { pt_id: '$left' }, expect: { ok: true } },
        { op: 'ioctl', fd: '$b_fd', cmd: 'VFIO_DEVICE_ATTACH_IOMMUFD_PT', fields: { pt_id: '$left' }, expect: { ok: true } },
        { op: 'ioctl', fd: '$b_fd', cmd: 'VFIO_DEVICE_ATTACH_IOMMUFD_PT', fields: { pt_id: '$named' }, readOnly: true, expect: { errno: ['EFAULT'] } },
        { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_DESTROY', fields: { id: '$named' }, expect: { errno: ['EBUSY'] } },
        { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_DESTROY', fields: { id: '$left' }, expect: { ok: true } },
        { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_IOAS_ALLOC', fields: {} },
      ],
      { ops: ['device_create', 'open_device'], commands: ['VFIO_DEVICE_BIND_IOMMUFD', 'IOMMU_HWPT_ALLOC', 'VFIO_DEVICE_ATTACH_IOMMUFD_PT'] },
    );
    for (const profile of ['6.12', '7.3'] as const) {
      const r = await replayProgram(p, { impl: 'ref', profile, oracle: 'invariants' });
      expect(r.objections, r.text).toEqual([]);
      // The answers are the kernel's, not only unobjected: the replace's EFAULT, the named HWPT busy, the left one free.
      const errnos = r.trace.filter((t) => t.request?.op === 'ioctl').slice(-4).map((t) => (t.response?.ok ? errnoName((t.response.result as { errno: number }).errno) ?? 'ok' : 'no answer'));
      expect(errnos, r.text).toEqual(['EFAULT', 'EBUSY', 'ok', 'ok']);
    }
  });
});

describe('a device no file holds can be unplugged', () => {
  check('suite.invariants.removal-refused-with-nothing-open', async () => {
    // A device file opened and closed without a bind: its release gives back the registration its
    // open took (vfio_device_fops_release), so the hot-unplug goes through. The unseen fault keeps
    // it for an unbound file: removal is refused for ever.
    const p = program(
      'remove-after-unbound-close',
      [
        { op: 'device_create', spec: { iommu: 'vtd0' }, bind: { a: 'device' } },
        { op: 'open_device', device: '$a', bind: { afd: 'fd' } },
        { op: 'close', fd: '$afd' },
        { op: 'device_remove', device: '$a' },
      ],
      { ops: ['device_create', 'open_device', 'device_remove'] },
    );
    const r = await judge(p, 'conformance/mutants/unseen/cdev-release-registration-bound-only.ts');
    expect(r.broken, r.text).toContain('invariants.lifetime');
    expect(r.text).toMatch(/device_remove of device \d+ was refused .*, but no file of it is open/);
    expect(r.reference, r.text).toEqual([]);
  });
});

describe('a fault says why', () => {
  check('suite.invariants.dma-fault-kind', async () => {
    // A device writes a page its IOAS maps read-only: the write faults, as a permission fault
    // ('permission', ADAPTER.md §3.7), not as a missing translation.
    const p = program(
      'write-read-only',
      [
        ...open,
        { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_IOAS_MAP', fields: { ioas_id: '$ioas', flags: 'IOMMU_IOAS_MAP_FIXED_IOVA|IOMMU_IOAS_MAP_READABLE', user_va: '$buf.va', length: '4096', iova: '0x100000' } },
        ...device('d', '$ioas'),
        { op: 'dma', device: '$d', iova: '0x100000', dir: 'write', data: { hex: '01020304' } },
      ],
      { ops: ['device_create', 'open_device', 'dma'], commands: ['VFIO_DEVICE_BIND_IOMMUFD', 'VFIO_DEVICE_ATTACH_IOMMUFD_PT'] },
    );
    const r = await judge(p, 'conformance/mutants/fixtures/permission-fault-as-unmapped.ts');
    expect(r.broken, r.text).toContain('invariants.dma-confinement');
    expect(r.text).toMatch(/faulted as 'unmapped', but .*: the fault there is 'permission'/);
    expect(r.reference, r.text).toEqual([]);
  });

  check('suite.invariants.dma-read-of-write-only-page', async () => {
    // A read that starts in a write-only area and runs past it: VT-d faults at the first page (a
    // read without DMA_PTE_READ: 'permission'); a format whose write implies read would go on and
    // fault at the next page ('unmapped'). Either is the kernel's; the suite once allowed only the second.
    const p = program(
      'read-write-only',
      [
        ...open,
        { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_IOAS_MAP', fields: { ioas_id: '$ioas', flags: 'IOMMU_IOAS_MAP_FIXED_IOVA|IOMMU_IOAS_MAP_WRITEABLE', user_va: '$buf.va', length: '4096', iova: '0x100000' } },
        ...device('d', '$ioas'),
        { op: 'dma', device: '$d', iova: '0x100ffc', dir: 'read', length: 16, expect: { ok: true, result: { ok: false, fault: 'permission' } } },
      ],
      { ops: ['device_create', 'open_device', 'dma'], commands: ['VFIO_DEVICE_BIND_IOMMUFD', 'VFIO_DEVICE_ATTACH_IOMMUFD_PT'] },
    );
    const onRef = await replayProgram(p, { impl: 'ref', profile: '7.3', oracle: 'invariants' });
    expect(onRef.objections, onRef.text).toEqual([]);
    expect(onRef.trace.filter((t) => t.status !== 'ok'), onRef.text).toEqual([]);
  });
});

describe('round 23: what a command must do, whatever the suite saw before', () => {
  const vtd = (name: string, spec: Record<string, unknown> = {}): Step[] => [
    { op: 'device_create', spec: { iommu: 'vtd0', ...spec }, bind: { [name]: 'device' } },
    { op: 'open_device', device: `$${name}`, bind: { [`${name}_fd`]: 'fd' } },
    { op: 'ioctl', fd: `$${name}_fd`, cmd: 'VFIO_DEVICE_BIND_IOMMUFD', fields: { iommufd: '$fd' }, bind: { [`${name}_id`]: 'out.out_devid' } },
  ];
  const env = { ops: ['device_create', 'open_device'], commands: ['VFIO_DEVICE_BIND_IOMMUFD', 'VFIO_DEVICE_ATTACH_IOMMUFD_PT', 'IOMMU_HWPT_ALLOC', 'IOMMU_VFIO_IOAS', 'VFIO_IOMMU_GET_INFO', 'VFIO_CHECK_EXTENSION', 'IOMMU_GET_HW_INFO', 'IOMMU_OPTION'] };

  check('suite.invariants.hw-info-never-refused', async () => {
    // A struct still holding another device's answer (its type too): without
    // IOMMU_HW_INFO_FLAG_INPUT_TYPE the type member is DEFAULT, whatever it holds (3: TEGRA241_CMDQV).
    const p = program('hw-info-reused-struct', [...context, ...vtd('a'), { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_GET_HW_INFO', fields: { dev_id: '$a_id', data_len: 0, data_uptr: '0', out_data_type: 3 }, expect: { ok: true } }], env);
    const r = await judge(p, 'conformance/mutants/unseen/hw-info-stale-in-type.ts');
    expect(r.broken, r.text).toContain('invariants.abi-hygiene');
    expect(r.text).toMatch(/IOMMU_GET_HW_INFO of device \d+, bound to this context, without IOMMU_HW_INFO_FLAG_INPUT_TYPE/);
    expect(r.reference, r.text).toEqual([]);
  });

  check('suite.invariants.huge-pages-off-again-succeeds', async () => {
    // Large pages off on an empty IOAS, then a domain and an area: turning them off again is a no-op.
    const p = program('huge-pages-off-twice', [
      ...open,
      { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_OPTION', fields: { option_id: 'IOMMU_OPTION_HUGE_PAGES', op: 'IOMMU_OPTION_OP_SET', object_id: '$ioas', val64: '0' }, expect: { ok: true } },
      ...vtd('a'),
      { op: 'ioctl', fd: '$a_fd', cmd: 'VFIO_DEVICE_ATTACH_IOMMUFD_PT', fields: { pt_id: '$ioas' }, expect: { ok: true } },
      { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_IOAS_MAP', fields: { ioas_id: '$ioas', flags: 'IOMMU_IOAS_MAP_READABLE|IOMMU_IOAS_MAP_WRITEABLE', user_va: '$buf.va', length: '16384' }, expect: { ok: true } },
      { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_OPTION', fields: { option_id: 'IOMMU_OPTION_HUGE_PAGES', op: 'IOMMU_OPTION_OP_SET', object_id: '$ioas', val64: '0' }, expect: { ok: true } },
    ], env);
    const r = await judge(p, 'conformance/mutants/unseen/huge-pages-busy-check-first.ts');
    expect(r.broken, r.text).toContain('invariants.abi-hygiene');
    expect(r.text).toMatch(/HUGE_PAGES to 0 while they are off already/);
    expect(r.reference, r.text).toEqual([]);
  });

  check('suite.invariants.replace-in-the-ioas-keeps-regions', async () => {
    // A successful replace onto another HWPT of the same IOAS keeps the group's regions (only a refused
    // one runs err_unresv): a map over the MSI window is still refused.
    const p = program('replace-in-ioas-keeps-msi', [
      ...withBuffer(16384),
      ...vtd('a'),
      { op: 'ioctl', fd: '$a_fd', cmd: 'VFIO_DEVICE_ATTACH_IOMMUFD_PT', fields: { pt_id: '$ioas' }, expect: { ok: true } },
      { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_HWPT_ALLOC', fields: { dev_id: '$a_id', pt_id: '$ioas', flags: 0 }, bind: { hwpt: 'out.out_hwpt_id' }, expect: { ok: true } },
      { op: 'ioctl', fd: '$a_fd', cmd: 'VFIO_DEVICE_ATTACH_IOMMUFD_PT', fields: { pt_id: '$hwpt' }, expect: { ok: true } },
      { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_IOAS_MAP', fields: { ioas_id: '$ioas', flags: 'IOMMU_IOAS_MAP_FIXED_IOVA|IOMMU_IOAS_MAP_WRITEABLE|IOMMU_IOAS_MAP_READABLE', user_va: '$buf.va', length: '4096', iova: '0xfee00000' }, expect: { errno: ['EINVAL'] } },
    ], env);
    const r = await judge(p, 'conformance/mutants/unseen/replace-unresv-without-ioas-test.ts');
    expect(r.broken, r.text).toContain('invariants.dma-confinement');
    expect(r.text).toMatch(/placed its area at 0xfee00000\.\.0xfee00fff, over device \d+'s reserved region/);
    expect(r.reference, r.text).toEqual([]);
  });

  check('suite.invariants.compat-cap-iova-range-is-the-holes', async () => {
    // A device attached to the compat IOAS and 2 MiB mapped: the capability lists the holes of the
    // reserved tree (the MSI window and the space past the aperture are not in them; the area is).
    const p = program('compat-cap-iova', [
      ...withBuffer(2097152),
      { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_VFIO_IOAS', fields: { op: 'IOMMU_VFIO_IOAS_SET', ioas_id: '$ioas' } },
      ...vtd('a'),
      { op: 'ioctl', fd: '$a_fd', cmd: 'VFIO_DEVICE_ATTACH_IOMMUFD_PT', fields: { pt_id: '$ioas' }, expect: { ok: true } },
      { op: 'ioctl', fd: '$fd', cmd: 'VFIO_IOMMU_MAP_DMA', fields: { flags: 'VFIO_DMA_MAP_FLAG_READ|VFIO_DMA_MAP_FLAG_WRITE', vaddr: '$buf.va', iova: '0x100000', size: '0x200000' }, expect: { ok: true } },
      { op: 'ioctl', fd: '$fd', cmd: 'VFIO_IOMMU_GET_INFO', fields: { argsz: 256 }, tail: { fill: 0, length: 232 }, expect: { ok: true } },
    ], { ...env, commands: [...env.commands, 'VFIO_IOMMU_MAP_DMA'] });
    const r = await judge(p, 'conformance/mutants/unseen/compat-cap-iova-walks-area-tree.ts');
    expect(r.broken, r.text).toContain('invariants.dma-confinement');
    expect(r.text).toMatch(/VFIO_IOMMU_GET_INFO’s VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE of IOAS \d+/);
    expect(r.reference, r.text).toEqual([]);
  });

  check('suite.invariants.cc-iommu-when-every-domain-enforces', async () => {
    // vtd0 enforces: the compat IOAS's automatic HWPT and one allocated for the device both do.
    const p = program('cc-iommu-enforcing', [
      ...context,
      { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_VFIO_IOAS', fields: { op: 'IOMMU_VFIO_IOAS_SET', ioas_id: '$ioas' } },
      ...vtd('a', { enforceCacheCoherency: true }),
      { op: 'ioctl', fd: '$a_fd', cmd: 'VFIO_DEVICE_ATTACH_IOMMUFD_PT', fields: { pt_id: '$ioas' }, expect: { ok: true } },
      { op: 'ioctl', fd: '$fd', cmd: 'VFIO_CHECK_EXTENSION', arg: { kind: 'int', value: 'VFIO_DMA_CC_IOMMU' } },
    ], env);
    const r = await judge(p, 'conformance/mutants/unseen/hwpt-enforce-cc-not-recorded.ts');
    expect(r.broken, r.text).toContain('invariants.coherency');
    expect(r.text).toMatch(/VFIO_CHECK_EXTENSION\(VFIO_DMA_CC_IOMMU\) answers 0, but every paging HWPT of the compat IOAS \d+ enforces/);
    expect(r.reference, r.text).toEqual([]);
  });

  check('suite.invariants.nest-parent-takes-no-read-only-area', async () => {
    // A VT-d nesting parent in the IOAS: a read-only map there is refused (ERRATA_772415_SPR17).
    const p = program('nest-parent-read-only-map', [
      ...open,
      ...vtd('a'),
      { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_HWPT_ALLOC', fields: { dev_id: '$a_id', pt_id: '$ioas', flags: 'IOMMU_HWPT_ALLOC_NEST_PARENT' }, expect: { ok: true } },
      { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_IOAS_MAP', fields: { ioas_id: '$ioas', flags: 'IOMMU_IOAS_MAP_READABLE', user_va: '$buf.va', length: '16384' }, expect: { errno: ['EINVAL'] } },
    ], env);
    const r = await judge(p, 'conformance/mutants/unseen/vtdss-force-writeable-sets-w.ts');
    expect(r.broken, r.text).toContain('invariants.dma-confinement');
    expect(r.text).toMatch(/made a read-only area in IOAS \d+, which a VT-d nesting parent HWPT holds/);
    expect(r.reference, r.text).toEqual([]);
  });

  check('suite.invariants.dirty-tracking-domain-takes-only-trackers', async () => {
    // b's unit tracks dirty pages and allocates a dirty-tracking HWPT; a's cannot: its attach is refused.
    const p = program('dirty-hwpt-untracked-device', [
      ...context,
      ...vtd('b'),
      { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_HWPT_ALLOC', fields: { dev_id: '$b_id', pt_id: '$ioas', flags: 'IOMMU_HWPT_ALLOC_DIRTY_TRACKING' }, bind: { dirty: 'out.out_hwpt_id' }, expect: { ok: true } },
      ...vtd('a', { dirtyTracking: false }),
      { op: 'ioctl', fd: '$a_fd', cmd: 'VFIO_DEVICE_ATTACH_IOMMUFD_PT', fields: { pt_id: '$dirty' }, expect: { errno: ['EINVAL'] } },
    ], env);
    const r = await judge(p, 'conformance/mutants/unseen/vtd-compat-dirty-tracking-state.ts');
    expect(r.broken, r.text).toContain('invariants.abi-hygiene');
    expect(r.text).toMatch(/allocated with IOMMU_HWPT_ALLOC_DIRTY_TRACKING, but its IOMMU cannot track dirty pages for it/);
    expect(r.reference, r.text).toEqual([]);
  });
});

describe('a pinned page outlives its user mapping', () => {
  // The buffer's first page holds known bytes; the IOAS maps it and a device's domain pins it;
  // then the process unmaps it. The pin keeps the page (mm/gup.c), so the device still reads those bytes.
  const p = program(
    'read-after-munmap',
    [
      ...open,
      { op: 'mem_write', buffer: '$buf.buffer', offset: 0, data: { hex: 'a1b2c3d4e5f60718' } },
      { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_IOAS_MAP', fields: { ioas_id: '$ioas', flags: 'IOMMU_IOAS_MAP_FIXED_IOVA|IOMMU_IOAS_MAP_READABLE|IOMMU_IOAS_MAP_WRITEABLE', user_va: '$buf.va', length: '16384', iova: '0x100000' } },
      ...device('d', '$ioas'),
      { op: 'mem_unmap', buffer: '$buf.buffer', offset: 0, length: 4096 },
      { op: 'dma', device: '$d', iova: '0x100000', dir: 'read', length: 8, expect: { ok: true, result: { ok: true } } },
    ],
    { ops: ['device_create', 'open_device', 'dma', 'mem_write', 'mem_unmap'], commands: ['VFIO_DEVICE_BIND_IOMMUFD', 'VFIO_DEVICE_ATTACH_IOMMUFD_PT'] },
  );

  check('suite.invariants.pinned-frame-outlives-munmap', async () => {
    const freed = await judge(p, 'conformance/mutants/fixtures/munmap-frees-pinned-frames.ts');
    expect(freed.broken, freed.text).toContain('invariants.dma-confinement');
    expect(freed.text).toMatch(/DMA read at 0x100000 returned bytes that are not those of buffer \d+\+0/);
    expect(freed.reference, freed.text).toEqual([]);
    const lie = await judge(p, 'lie:dma-read-wrong-byte');
    expect(lie.broken, lie.text).toContain('invariants.dma-confinement');
  });
});

describe('an unmap refused at an area it cuts', () => {
  check('suite.invariants.enoent-unmap-removed-the-areas-below-the-cut', async () => {
    // Two areas an access pins a page of each; an unmap from the first one's start into the
    // second: the walk tells the access to let go of the first, removes it, and stops at the
    // second (ENOENT). The first's IOVA is unmapped from then on: a device that reaches it is wrong.
    const mapAt = (iova: string): Step => ({ op: 'ioctl', fd: '$fd', cmd: 'IOMMU_IOAS_MAP', fields: { ioas_id: '$ioas', flags: 'IOMMU_IOAS_MAP_FIXED_IOVA|IOMMU_IOAS_MAP_READABLE|IOMMU_IOAS_MAP_WRITEABLE', user_va: '$buf.va', length: '16384', iova }, expect: { ok: true } });
    const pin = (iova: string): Step => ({ op: 'ioctl', fd: '$fd', cmd: 'IOMMU_TEST_CMD', fields: { op: 'IOMMU_TEST_OP_ACCESS_PAGES', id: '$acc', access_pages: { iova, length: '4096', uptr: '$buf.va', flags: 0 } }, expect: { ok: true } });
    const p = program(
      'enoent-unmap-removes-below',
      [
        ...open,
        { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_TEST_CMD', fields: { op: 'IOMMU_TEST_OP_CREATE_ACCESS', id: '$ioas', create_access: { flags: 'MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES' } }, bind: { acc: 'out.create_access.out_access_fd' } },
        mapAt('0x4000'),
        mapAt('0x8000'),
        pin('0x4000'),
        pin('0x8000'),
        ...device('d', '$ioas'),
        { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_IOAS_UNMAP', fields: { ioas_id: '$ioas', iova: '0x4000', length: '0x5000' }, expect: { errno: ['ENOENT'] } },
        { op: 'translate', device: '$d', iova: '0x6000', expect: { ok: true, result: { mapped: false } } },
      ],
      { ops: ['device_create', 'open_device', 'translate'], commands: ['VFIO_DEVICE_BIND_IOMMUFD', 'VFIO_DEVICE_ATTACH_IOMMUFD_PT'], testOps: ['IOMMU_TEST_OP_CREATE_ACCESS', 'IOMMU_TEST_OP_ACCESS_PAGES'] },
    );
    const r = await judge(p, 'lie:translate-invents-a-mapping');
    expect(r.broken, r.text).toContain('invariants.dma-confinement');
    expect(r.text).toMatch(/translates 0x[4-7][0-9a-f]{3} to buffer \d+\+\d+, but IOAS \d+ maps nothing at 0x[4-7][0-9a-f]{3}/);
    expect(r.reference, r.text).toEqual([]);
  });
});

describe('answers on rarely reached paths (red-team round 29)', () => {
  check('suite.invariants.map-efault-needs-unreachable-pages', async () => {
    // The top page of a 6.12 VT-d domain's aperture is free, allowed and aligned, and the buffer is
    // mapped and writable: pinning cannot fault, so the map succeeds (the fault's driver says EFAULT).
    const p = program('map-aperture-top', [
      ...open,
      ...device('d', '$ioas'),
      { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_IOAS_MAP', fields: { ioas_id: '$ioas', flags: 'IOMMU_IOAS_MAP_FIXED_IOVA|IOMMU_IOAS_MAP_READABLE|IOMMU_IOAS_MAP_WRITEABLE', user_va: '$buf.va', length: '4096', iova: '0xfffffffff000' }, expect: { ok: true } },
    ], {}, ['6.12']);
    const r = await judgeOn(p, 'vtd612-map-width-end-off-by-one', '6.12');
    expect(r.broken, r.text).toContain('invariants.abi-hygiene');
    expect(r.text).toMatch(/failed with EFAULT, but that IOVA is free.*no EFAULT from the pages/);
    expect(r.reference, r.text).toEqual([]);
  });

  check('suite.invariants.hw-info-answers-type-asked', async () => {
    // An SMMUv3 without implementation ops asked for another unit's info type refuses it (EOPNOTSUPP).
    const p = program('hw-info-foreign-type', [
      { op: 'open', node: 'iommu', bind: { fd: 'fd' } },
      { op: 'device_create', spec: { iommu: 'smmu0' }, bind: { d: 'device' } },
      { op: 'open_device', device: '$d', bind: { d_fd: 'fd' } },
      { op: 'ioctl', fd: '$d_fd', cmd: 'VFIO_DEVICE_BIND_IOMMUFD', fields: { iommufd: '$fd' }, bind: { d_id: 'out.out_devid' } },
      { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_GET_HW_INFO', fields: { dev_id: '$d_id', data_len: 0, flags: 'IOMMU_HW_INFO_FLAG_INPUT_TYPE', in_data_type: 'IOMMU_HW_INFO_TYPE_INTEL_VTD' }, expect: { errno: ['EOPNOTSUPP'] } },
    ], {}, ['7.3']);
    const r = await judgeOn(p, 'smmu-hw-info-foreign-type-falls-through', '7.3');
    expect(r.broken, r.text).toContain('invariants.abi-hygiene');
    expect(r.text).toMatch(/asked device \S+ for info of type \d+ and answered type \d+/);
    expect(r.reference, r.text).toEqual([]);
  });

  check('suite.invariants.failed-access-read-copies-nothing', async () => {
    // A read running past the mapping's end fails (ENOENT) and leaves the caller's bytes as they were.
    const p = program('failed-access-read', [
      ...open,
      { op: 'mem_alloc', length: 4096, bind: { ubuf: '.' } },
      { op: 'mem_write', buffer: '$ubuf.buffer', offset: 0, data: { hex: 'a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5' } },
      { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_TEST_CMD', fields: { op: 'IOMMU_TEST_OP_CREATE_ACCESS', id: '$ioas', create_access: { flags: 0 } }, bind: { access: 'out.create_access.out_access_fd' } },
      { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_IOAS_MAP', fields: { ioas_id: '$ioas', flags: 'IOMMU_IOAS_MAP_FIXED_IOVA|IOMMU_IOAS_MAP_READABLE|IOMMU_IOAS_MAP_WRITEABLE', user_va: '$buf.va', length: '4096', iova: '0x100000' } },
      { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_TEST_CMD', fields: { op: 'IOMMU_TEST_OP_ACCESS_RW', id: '$access', access_rw: { iova: '0x100ff8', length: '16', uptr: '$ubuf.va', flags: 0 } }, expect: { errno: ['ENOENT'] } },
    ]);
    const r = await judgeOn(p, 'access-rw-read-copyout-on-failure', '7.3');
    expect(r.broken, r.text).toContain('invariants.abi-hygiene');
    expect(r.text).toMatch(/ACCESS_RW \(read\) failed with ENOENT, but buffer \d+ changed/);
    expect(r.reference, r.text).toEqual([]);
  });

  check('suite.invariants.copy-auto-fits', async () => {
    // syzkaller's form of a copy (area 0 of the source, offset 0) to an automatic IOVA of another
    // IOAS: decoded in the source it succeeds, and comes back with the flag cleared and the
    // source IOVA decoded; decoded in the destination (the fault) it finds nothing (ENOENT).
    const p = program('syz-copy-auto', [
      ...open,
      { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_IOAS_ALLOC', fields: {}, bind: { ioas2: 'out.out_ioas_id' } },
      { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_IOAS_MAP', fields: { ioas_id: '$ioas', flags: 'IOMMU_IOAS_MAP_FIXED_IOVA|IOMMU_IOAS_MAP_READABLE|IOMMU_IOAS_MAP_WRITEABLE', user_va: '$buf.va', length: '8192', iova: '0x100000' } },
      { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_IOAS_COPY', fields: { src_ioas_id: '$ioas', dst_ioas_id: '$ioas2', flags: 'IOMMU_IOAS_MAP_READABLE|IOMMU_IOAS_MAP_WRITEABLE|MOCK_FLAGS_ACCESS_SYZ', src_iova: '0x100000000', length: '4096', dst_iova: '0' }, expect: { ok: true } },
    ]);
    const r = await judgeOn(p, 'syz-copy-conv-in-dst-ioas', '7.3');
    expect(r.broken, r.text).toContain('invariants.abi-hygiene');
    expect(r.text).toMatch(/syzkaller form: area 0 of IOAS \d+ plus an offset.*failed with ENOENT.*IOAS_COPY\.AUTO_FITS/);
    expect(r.reference, r.text).toEqual([]);
  });

  check('suite.invariants.dirty-tracking-mock-attach', async () => {
    // A mock device allocates a dirty-tracking HWPT; one made with MOCK_FLAGS_DEVICE_NO_DIRTY onto it is refused.
    const p = program('mock-no-dirty-join', [
      ...context,
      { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_TEST_CMD', fields: { op: 'IOMMU_TEST_OP_MOCK_DOMAIN', id: '$ioas', mock_domain: {} }, bind: { idev: 'out.mock_domain.out_idev_id' } },
      { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_HWPT_ALLOC', fields: { dev_id: '$idev', pt_id: '$ioas', flags: 'IOMMU_HWPT_ALLOC_DIRTY_TRACKING' }, bind: { dirty: 'out.out_hwpt_id' } },
      { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_TEST_CMD', fields: { op: 'IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS', id: '$dirty', mock_domain_flags: { dev_flags: 'MOCK_FLAGS_DEVICE_NO_DIRTY' } }, expect: { errno: ['EINVAL'] } },
    ]);
    const r = await judgeOn(p, 'mock-attach-no-dirty-check-dropped', '7.3');
    expect(r.broken, r.text).toContain('invariants.abi-hygiene');
    expect(r.text).toMatch(/allocated with IOMMU_HWPT_ALLOC_DIRTY_TRACKING, but its IOMMU cannot track dirty pages for it/);
    expect(r.reference, r.text).toEqual([]);
  });
});

describe('syzkaller-form IOVAs name kernel areas, not the maps that made them', () => {
  check('suite.invariants.syz-iova-counts-copied-pieces', async () => {
    // A copy over two areas makes two (one per source piece, iopt_map_pages): the nth area of a
    // syzkaller-form copy counts both. Counting the copy once named another area here.
    const p = program('syz-copy-after-two-piece-copy', [
      ...context,
      { op: 'mem_alloc', length: 65536, hugeAligned: true, bind: { buf: '.' } },
      { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_IOAS_MAP', fields: { ioas_id: '$ioas', flags: 'IOMMU_IOAS_MAP_FIXED_IOVA|IOMMU_IOAS_MAP_READABLE|IOMMU_IOAS_MAP_WRITEABLE', user_va: '$buf.va', length: '8192', iova: '0x100000' } },
      { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_IOAS_MAP', fields: { ioas_id: '$ioas', flags: 'IOMMU_IOAS_MAP_FIXED_IOVA|IOMMU_IOAS_MAP_READABLE|IOMMU_IOAS_MAP_WRITEABLE', user_va: { $: 'buf', field: 'va', add: 16384 }, length: '8192', iova: '0x102000' } },
      { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_IOAS_COPY', fields: { src_ioas_id: '$ioas', dst_ioas_id: '$ioas', flags: 'IOMMU_IOAS_MAP_FIXED_IOVA|IOMMU_IOAS_MAP_READABLE|IOMMU_IOAS_MAP_WRITEABLE', src_iova: '0x101000', length: '8192', dst_iova: '0x200000' }, expect: { ok: true } },
      // Areas in IOVA order: 0x100000, 0x102000, 0x200000 (the copy's first piece), 0x201000 (its second).
      { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_IOAS_COPY', fields: { src_ioas_id: '$ioas', dst_ioas_id: '$ioas', flags: 'IOMMU_IOAS_MAP_READABLE|IOMMU_IOAS_MAP_WRITEABLE|MOCK_FLAGS_ACCESS_SYZ', src_iova: '3', length: '4096', dst_iova: '0' }, expect: { ok: true, out: { src_iova: '0x201000' } } },
    ]);
    const onRef = await replayProgram(p, { impl: 'ref', profile: '7.3', oracle: 'invariants' });
    expect(onRef.objections, onRef.text).toEqual([]);
    expect(onRef.text).not.toMatch(/FAIL/);
  });
});

describe('answers on rarely reached paths (red-team round 30)', () => {
  const selftest = { commands: ['IOMMU_TEST_CMD'], testOps: ['IOMMU_TEST_OP_MOCK_DOMAIN'] };

  check('suite.invariants.eexist-after-reserved', async () => {
    // A fixed map that starts below a mock domain's aperture (reserved) and runs into an area:
    // iopt_check_iova tests reserved IOVA before areas (EINVAL), so EEXIST misses the reservation.
    const p = program('eexist-after-reserved', [
      ...open,
      mockDomain,
      { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_IOAS_MAP', fields: { ioas_id: '$ioas', flags: 'IOMMU_IOAS_MAP_FIXED_IOVA|IOMMU_IOAS_MAP_READABLE', user_va: '$buf.va', length: '4096', iova: '0x1000000' } },
      { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_IOAS_MAP', fields: { ioas_id: '$ioas', flags: 'IOMMU_IOAS_MAP_FIXED_IOVA|IOMMU_IOAS_MAP_READABLE', user_va: '$buf.va', length: '8192', iova: '0xfff000' }, expect: { errno: ['EINVAL'] } },
    ], selftest);
    const r = await judgeOn(p, 'check-iova-area-before-reserved', '7.3');
    expect(r.broken, r.text).toContain('invariants.abi-hygiene');
    expect(r.text).toMatch(/failed with EEXIST, but IOAS \d+ reserves 0x0\.\.0xffffff in the range/);
    expect(r.reference, r.text).toEqual([]);
  });

  check('suite.invariants.answer-into-read-only-faults', async () => {
    // IOMMU_OPTION copies val64 back after a SET too: from a read-only struct the SET is EFAULT.
    const p = program('option-set-read-only', [
      { op: 'open', node: 'iommu', bind: { fd: 'fd' } },
      { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_OPTION', fields: { option_id: 'IOMMU_OPTION_RLIMIT_MODE', op: 'IOMMU_OPTION_OP_SET', object_id: 0, val64: '0' }, readOnly: true, expect: { errno: ['EFAULT'] } },
    ]);
    const r = await judgeOn(p, 'option-set-skips-val64-copyback', '6.12');
    expect(r.broken, r.text).toContain('invariants.abi-hygiene');
    expect(r.text).toMatch(/IOMMU_OPTION succeeded with a read-only argument/);
    expect(r.reference, r.text).toEqual([]);
  });

  check('suite.invariants.unimplemented-extension-is-zero', async () => {
    // The iommufd container implements no nesting type: CHECK_EXTENSION(VFIO_TYPE1_NESTING_IOMMU) is 0.
    const p = program('check-extension-nesting', [
      { op: 'open', node: 'vfio', bind: { fd: 'fd' } },
      { op: 'ioctl', fd: '$fd', cmd: 'VFIO_CHECK_EXTENSION', arg: { kind: 'int', value: '6' }, expect: { ret: 0 } },
    ], { commands: ['VFIO_CHECK_EXTENSION'] });
    const r = await judgeOn(p, 'compat-check-ext-type1-nesting', '7.3');
    expect(r.broken, r.text).toContain('invariants.abi-hygiene');
    expect(r.text).toMatch(/VFIO_CHECK_EXTENSION\(6\) answers 1/);
    expect(r.reference, r.text).toEqual([]);
  });

  check('suite.invariants.hwpt-data-type-and-length-agree', async () => {
    // A data type with no data is refused before anything is looked up (EINVAL).
    const p = program('hwpt-typed-no-data', [
      ...context,
      mockDomain,
      { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_HWPT_ALLOC', fields: { dev_id: '$idev', pt_id: '$ioas', data_type: 'IOMMU_HWPT_DATA_SELFTEST', data_len: 0 }, expect: { errno: ['EINVAL'] } },
    ], { commands: ['IOMMU_TEST_CMD', 'IOMMU_HWPT_ALLOC'], testOps: ['IOMMU_TEST_OP_MOCK_DOMAIN'] });
    const r = await judgeOn(p, 'hwpt-alloc-typed-empty-data-accepted', '6.12');
    expect(r.broken, r.text).toContain('invariants.abi-hygiene');
    expect(r.text).toMatch(/IOMMU_HWPT_ALLOC with data_type 57005 and data_len 0 succeeded/);
    expect(r.reference, r.text).toEqual([]);
  });

  check('suite.invariants.mock-selftest-data-taken', async () => {
    // A 7.3 mock takes IOMMU_HWPT_DATA_SELFTEST for a paging domain from its first member on:
    // an older caller's 4 bytes (iotlb alone) leave the default page table.
    const p = program('mock-selftest-data', [
      ...context,
      mockDomain,
      { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_HWPT_ALLOC', fields: { dev_id: '$idev', pt_id: '$ioas', data_type: 'IOMMU_HWPT_DATA_SELFTEST', data_len: 4, data_uptr: { data: { u32s: [0] } } }, expect: { ok: true } },
    ], { commands: ['IOMMU_TEST_CMD', 'IOMMU_HWPT_ALLOC'], testOps: ['IOMMU_TEST_OP_MOCK_DOMAIN'] }, ['7.3']);
    const r = await judgeOn(p, 'mock-hwpt-data-min-last-pagetable-type', '7.3');
    expect(r.broken, r.text).toContain('invariants.lifetime');
    expect(r.text).toMatch(/selftest data of 4 bytes asking for the default mock page table\) for device \d+ \(mock\) over IOAS \d+ failed with EINVAL/);
    expect(r.reference, r.text).toEqual([]);
    // 8 bytes naming the huge table (pagetable_type 1) over an empty IOAS: PAGE_SIZE is its
    // smallest page, so iopt_table_add_domain takes it.
    const q = program('mock-selftest-huge-table', [
      ...context,
      mockDomain,
      { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_HWPT_ALLOC', fields: { dev_id: '$idev', pt_id: '$ioas', data_type: 'IOMMU_HWPT_DATA_SELFTEST', data_len: 8, data_uptr: { data: { u32s: [0, 1] } } }, expect: { ok: true } },
    ], { commands: ['IOMMU_TEST_CMD', 'IOMMU_HWPT_ALLOC'], testOps: ['IOMMU_TEST_OP_MOCK_DOMAIN'] }, ['7.3']);
    const h = await judgeOn(q, 'mock-huge-pgsize-lacks-page-size', '7.3');
    expect(h.broken, h.text).toContain('invariants.lifetime');
    expect(h.text).toMatch(/selftest data of 8 bytes asking for the huge mock page table\) for device \d+ \(mock\) over IOAS \d+ failed with EINVAL/);
    expect(h.reference, h.text).toEqual([]);
  });

  check('suite.invariants.md-check-map-huge-table-alignment', async () => {
    // A 7.3 mock HWPT of the MOCK_IOMMUPT_HUGE table (pagetable_type 1: 4 KiB and 1 MiB pages) over four mapped
    // pages: MD_CHECK_MAP half a page in (2 KiB aligned) is EINVAL there, however well the pages
    // match, since the check steps by the domain's smallest page (iommufd_test_md_check_pa).
    const p = program('md-check-map-huge-half-page', [
      ...withBuffer(16384),
      mockDomain,
      { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_HWPT_ALLOC', fields: { dev_id: '$idev', pt_id: '$ioas', data_type: 'IOMMU_HWPT_DATA_SELFTEST', data_len: 8, data_uptr: { data: { u32s: [0, 1] } } }, bind: { hwpt: 'out.out_hwpt_id' }, expect: { ok: true } },
      { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_IOAS_MAP', fields: { ioas_id: '$ioas', flags: 'IOMMU_IOAS_MAP_FIXED_IOVA|IOMMU_IOAS_MAP_READABLE|IOMMU_IOAS_MAP_WRITEABLE', user_va: '$buf.va', length: '16384', iova: '0x1000000' } },
      { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_TEST_CMD', fields: { op: 'IOMMU_TEST_OP_MD_CHECK_MAP', id: '$hwpt', check_map: { iova: '0x1000800', length: '0x3000', uptr: { $: 'buf', field: 'va', add: 2048 } } }, expect: { errno: ['EINVAL'] } },
    ], { commands: ['IOMMU_TEST_CMD', 'IOMMU_HWPT_ALLOC'], testOps: ['IOMMU_TEST_OP_MOCK_DOMAIN', 'IOMMU_TEST_OP_MD_CHECK_MAP'] }, ['7.3']);
    const r = await judgeOn(p, 'md-check-pa-stale-mock-page-size', '7.3');
    expect(r.broken, r.text).toContain('invariants.abi-hygiene');
    expect(r.text).toMatch(/IOMMU_TEST_OP_MD_CHECK_MAP of IOVA 0x1000800\.\.\+0x3000 from 0x[0-9a-f]+ succeeded on HWPT \d+, a mock domain of the MOCK_IOMMUPT_HUGE table/);
    expect(r.reference, r.text).toEqual([]);
  });

  check('suite.invariants.get-info-within-argsz', async () => {
    // argsz 56 ends where the IOVA-range capability's ranges begin: none of them is written, and
    // the 48 bytes the caller keeps after argsz come back as sent.
    const p = program('get-info-argsz-in-cap', [
      ...context,
      { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_VFIO_IOAS', fields: { op: 'IOMMU_VFIO_IOAS_SET', ioas_id: '$ioas' } },
      { op: 'ioctl', fd: '$fd', cmd: 'VFIO_IOMMU_GET_INFO', fields: { argsz: 56 }, tail: { fill: 0, length: 48 }, expect: { ok: true } },
    ], { commands: ['IOMMU_VFIO_IOAS', 'VFIO_IOMMU_GET_INFO'] });
    const r = await judgeOn(p, 'compat-cap-iova-range-bound-short', '6.12');
    expect(r.broken, r.text).toContain('invariants.abi-hygiene');
    expect(r.text).toMatch(/VFIO_IOMMU_GET_INFO with argsz 56 succeeded, but its argument came back changed at byte \d+, past the 56 byte/);
    expect(r.reference, r.text).toEqual([]);
  });

  check('suite.invariants.access-rw-syz-form', async () => {
    // A read of a byte at (area 0, offset 16) in syzkaller's form: the first area's byte. Decoded
    // from the member over access_rw.length (the fault), it is area 1's.
    const p = program('access-rw-syz', [
      { op: 'mem_alloc', length: 8192, hugeAligned: true, bind: { buf: '.' } },
      { op: 'mem_write', buffer: '$buf.buffer', offset: 0, data: { fill: 17, length: 4096 } },
      { op: 'mem_write', buffer: '$buf.buffer', offset: 4096, data: { fill: 34, length: 4096 } },
      { op: 'mem_alloc', length: 4096, bind: { ubuf: '.' } },
      ...context,
      { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_IOAS_MAP', fields: { ioas_id: '$ioas', flags: 'IOMMU_IOAS_MAP_FIXED_IOVA|IOMMU_IOAS_MAP_READABLE|IOMMU_IOAS_MAP_WRITEABLE', user_va: '$buf.va', length: '4096', iova: '0x100000' } },
      { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_IOAS_MAP', fields: { ioas_id: '$ioas', flags: 'IOMMU_IOAS_MAP_FIXED_IOVA|IOMMU_IOAS_MAP_READABLE|IOMMU_IOAS_MAP_WRITEABLE', user_va: { $: 'buf', field: 'va', add: 4096 }, length: '4096', iova: '0x200000' } },
      { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_TEST_CMD', fields: { op: 'IOMMU_TEST_OP_CREATE_ACCESS', id: '$ioas', create_access: { flags: 0 } }, bind: { access: 'out.create_access.out_access_fd' } },
      { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_TEST_CMD', fields: { op: 'IOMMU_TEST_OP_ACCESS_RW', id: '$access', access_rw: { iova: '0x1000000000', length: '1', uptr: '$ubuf.va', flags: 'MOCK_FLAGS_ACCESS_SYZ' } }, expect: { ok: true } },
    ], { commands: ['IOMMU_TEST_CMD'], testOps: ['IOMMU_TEST_OP_CREATE_ACCESS', 'IOMMU_TEST_OP_ACCESS_RW'] });
    const r = await judgeOn(p, 'access-rw-syz-iova-from-pages-member', '7.3');
    expect(r.broken, r.text).toContain('invariants.dma-confinement');
    expect(r.reference, r.text).toEqual([]);
  });
});

describe('answers on rarely reached paths (red-team round 31)', () => {
  const attachTo = (iommu: string): Step[] => [
    { op: 'device_create', spec: { iommu }, bind: { d: 'device' } },
    { op: 'open_device', device: '$d', bind: { dfd: 'fd' } },
    { op: 'ioctl', fd: '$dfd', cmd: 'VFIO_DEVICE_BIND_IOMMUFD', fields: { iommufd: '$fd' }, bind: { d_id: 'out.out_devid' } },
    { op: 'ioctl', fd: '$dfd', cmd: 'VFIO_DEVICE_ATTACH_IOMMUFD_PT', fields: { pt_id: '$ioas' } },
  ];
  const devices = { ops: ['device_create', 'open_device', 'dma', 'translate'], commands: ['VFIO_DEVICE_BIND_IOMMUFD', 'VFIO_DEVICE_ATTACH_IOMMUFD_PT'] };

  check('suite.invariants.write-only-stays-unreadable', async () => {
    // AMD v1 IOPTEs keep IR and IW apart: a write-only page is not readable by the device.
    const p = program('amd-write-only', [
      ...withBuffer(16384),
      { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_IOAS_MAP', fields: { ioas_id: '$ioas', flags: 'IOMMU_IOAS_MAP_FIXED_IOVA|IOMMU_IOAS_MAP_WRITEABLE', user_va: '$buf.va', length: '4096', iova: '0x1000000' } },
      ...attachTo('amd0'),
      { op: 'dma', device: '$d', iova: '0x1000000', dir: 'read', length: 3, expect: { ok: true, result: { ok: false, fault: 'permission' } } },
    ], devices, ['6.12']);
    const r = await judgeOn(p, 'amd612-map-ir-from-prot-mask', '6.12');
    expect(r.broken, r.text).toContain('invariants.dma-confinement');
    expect(r.text).toMatch(/may read at 0x1000000, but the mapping is write-only/);
    expect(r.reference, r.text).toEqual([]);
  });

  check('suite.invariants.new-area-aligned', async () => {
    // Large pages off: the IOAS alignment is PAGE_SIZE, and a map from 256 bytes into a page is refused.
    const p = program('map-off-alignment', [
      ...withBuffer(16384),
      { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_OPTION', fields: { option_id: 'IOMMU_OPTION_HUGE_PAGES', op: 'IOMMU_OPTION_OP_SET', val64: '0', object_id: '$ioas' } },
      { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_IOAS_MAP', fields: { ioas_id: '$ioas', flags: 'IOMMU_IOAS_MAP_FIXED_IOVA|IOMMU_IOAS_MAP_WRITEABLE|IOMMU_IOAS_MAP_READABLE', user_va: { $: 'buf', field: 'va', add: 256 }, length: '4096', iova: '0x1000000' }, expect: { errno: ['EINVAL'] } },
    ]);
    const r = await judgeOn(p, 'insert-area-skips-page-offset-check', '7.3');
    expect(r.broken, r.text).toContain('invariants.dma-confinement');
    expect(r.text).toMatch(/IOMMU_IOAS_MAP succeeded, but IOAS \d+ now holds an area at 0x1000000\.\.0x1000fff \(user address 0x[0-9a-f]+100\) off its alignment 4096/);
    expect(r.reference, r.text).toEqual([]);
  });

  check('suite.invariants.memlock-holds-after-cap-regained', async () => {
    // Pages mapped in MM mode without CAP_IPC_LOCK are charged when pinned, whatever the caller holds then.
    const p = program('mm-charge-after-cap', [
      { op: 'mem_alloc', length: 16384, hugeAligned: true, bind: { buf: '.' } },
      { op: 'set_process', capIpcLock: false, rlimitMemlock: '8192' },
      { op: 'open', node: 'iommu', bind: { fd: 'fd' } },
      { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_OPTION', fields: { option_id: 'IOMMU_OPTION_RLIMIT_MODE', op: 'IOMMU_OPTION_OP_SET', val64: '1' } },
      { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_IOAS_ALLOC', fields: {}, bind: { ioas: 'out.out_ioas_id' } },
      { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_IOAS_MAP', fields: { ioas_id: '$ioas', flags: 'IOMMU_IOAS_MAP_FIXED_IOVA|IOMMU_IOAS_MAP_WRITEABLE|IOMMU_IOAS_MAP_READABLE', user_va: '$buf.va', length: '16384', iova: '0x1000000' } },
      { op: 'set_process', capIpcLock: true },
      { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_TEST_CMD', fields: { op: 'IOMMU_TEST_OP_MOCK_DOMAIN', id: '$ioas', mock_domain: {} }, expect: { errno: ['ENOMEM'] } },
    ], { ops: ['set_process'], commands: ['IOMMU_TEST_CMD'], testOps: ['IOMMU_TEST_OP_MOCK_DOMAIN'] });
    const r = await judgeOn(p, 'mm-charge-bypass-on-ipc-lock', '7.3');
    expect(r.broken, r.text).toContain('invariants.accounting');
    expect(r.text).toMatch(/pinned mm->locked_vm up to 4 page\(s\), over RLIMIT_MEMLOCK \(2 pages\)/);
    expect(r.reference, r.text).toEqual([]);
  });

  check('suite.invariants.compat-page-sizes-mock', async () => {
    // A 6.12 mock domain maps 2 KiB pages: the container reports them folded into PAGE_SIZE.
    const p = program('compat-mock-page-sizes', [
      ...context,
      { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_TEST_CMD', fields: { op: 'IOMMU_TEST_OP_MOCK_DOMAIN', id: '$ioas', mock_domain: {} } },
      { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_VFIO_IOAS', fields: { op: 'IOMMU_VFIO_IOAS_SET', ioas_id: '$ioas' } },
      { op: 'ioctl', fd: '$fd', cmd: 'VFIO_IOMMU_GET_INFO', fields: { argsz: 16 }, expect: { ok: true } },
    ], { commands: ['IOMMU_TEST_CMD', 'IOMMU_VFIO_IOAS', 'VFIO_IOMMU_GET_INFO'], testOps: ['IOMMU_TEST_OP_MOCK_DOMAIN'] }, ['6.12']);
    const r = await judgeOn(p, 'compat-pgsizes-subpage-fold-no-page-size', '6.12');
    expect(r.broken, r.text).toContain('invariants.abi-hygiene');
    expect(r.text).toMatch(/answered iova_pgsizes 0x800, but the domains of compat IOAS \d+ can all map only 0x1000/);
    expect(r.reference, r.text).toEqual([]);
  });

  check('suite.invariants.bind-token-refused', async () => {
    // The environment's devices are no SR-IOV PF or VF: a VF token is refused (EINVAL).
    const p = program('bind-token', [
      ...context,
      { op: 'device_create', spec: { iommu: 'vtd0' }, bind: { d: 'device' } },
      { op: 'open_device', device: '$d', bind: { dfd: 'fd' } },
      { op: 'ioctl', fd: '$dfd', cmd: 'VFIO_DEVICE_BIND_IOMMUFD', fields: { iommufd: '$fd', flags: 'VFIO_DEVICE_BIND_FLAG_TOKEN', token_uuid_ptr: { data: { hex: '00112233445566778899aabbccddeeff' } } }, expect: { errno: ['EINVAL'] } },
    ], { ops: ['device_create', 'open_device'], commands: ['VFIO_DEVICE_BIND_IOMMUFD'] }, ['7.3']);
    const r = await judgeOn(p, 'cdev-bind-token-uuid-not-passed', '7.3');
    expect(r.broken, r.text).toContain('invariants.abi-hygiene');
    expect(r.text).toMatch(/VFIO_DEVICE_BIND_IOMMUFD with VFIO_DEVICE_BIND_FLAG_TOKEN succeeded/);
    expect(r.reference, r.text).toEqual([]);
  });

  check('suite.invariants.nested-on-foreign-parent', async () => {
    // A VT-d device asking to nest on a parent the mock driver made is refused (EINVAL) before its
    // driver sees it (whose answer to selftest data would be EOPNOTSUPP).
    const p = program('nested-foreign-parent', [
      ...context,
      { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_TEST_CMD', fields: { op: 'IOMMU_TEST_OP_MOCK_DOMAIN', id: '$ioas', mock_domain: {} }, bind: { idev: 'out.mock_domain.out_idev_id' } },
      { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_HWPT_ALLOC', fields: { dev_id: '$idev', pt_id: '$ioas', flags: 'IOMMU_HWPT_ALLOC_NEST_PARENT' }, bind: { parent: 'out.out_hwpt_id' } },
      { op: 'device_create', spec: { iommu: 'vtd0' }, bind: { d: 'device' } },
      { op: 'open_device', device: '$d', bind: { dfd: 'fd' } },
      { op: 'ioctl', fd: '$dfd', cmd: 'VFIO_DEVICE_BIND_IOMMUFD', fields: { iommufd: '$fd' }, bind: { d_id: 'out.out_devid' } },
      { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_HWPT_ALLOC', fields: { dev_id: '$d_id', pt_id: '$parent', data_type: 'IOMMU_HWPT_DATA_SELFTEST', data_len: 8, data_uptr: { data: { u32s: [0, 0] } } }, expect: { errno: ['EINVAL'] } },
    ], { ops: ['device_create', 'open_device'], commands: ['IOMMU_TEST_CMD', 'IOMMU_HWPT_ALLOC', 'VFIO_DEVICE_BIND_IOMMUFD'], testOps: ['IOMMU_TEST_OP_MOCK_DOMAIN'] });
    for (const profile of ['6.12', '7.3'] as const) {
      const r = await judgeOn(p, 'hwpt-nested-parent-owner-unchecked', profile);
      expect(r.broken, r.text).toContain('invariants.abi-hygiene');
      expect(r.text).toMatch(/a domain the mock driver made for mock, answered EOPNOTSUPP/);
      expect(r.reference, r.text).toEqual([]);
    }
  });

  check('suite.invariants.nested-flags-first', async () => {
    // A nested allocation with DIRTY_TRACKING, a paging HWPT's flag, over a parent that is no nest
    // parent: the flag is refused first (EOPNOTSUPP), before the parent test (EINVAL).
    const p = program('nested-with-paging-flag', [
      ...context,
      { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_TEST_CMD', fields: { op: 'IOMMU_TEST_OP_MOCK_DOMAIN', id: '$ioas', mock_domain: {} }, bind: { idev: 'out.mock_domain.out_idev_id', hwpt: 'out.mock_domain.out_hwpt_id' } },
      { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_HWPT_ALLOC', fields: { dev_id: '$idev', pt_id: '$hwpt', flags: 'IOMMU_HWPT_ALLOC_DIRTY_TRACKING', data_type: 'IOMMU_HWPT_DATA_SELFTEST', data_len: 8, data_uptr: { data: { u32s: [0, 0] } } }, expect: { errno: ['EOPNOTSUPP'] } },
    ], { commands: ['IOMMU_TEST_CMD', 'IOMMU_HWPT_ALLOC'], testOps: ['IOMMU_TEST_OP_MOCK_DOMAIN'] });
    for (const profile of ['6.12', '7.3'] as const) {
      const r = await judgeOn(p, 'nested-alloc-takes-paging-flags', profile);
      expect(r.broken, r.text).toContain('invariants.abi-hygiene');
      expect(r.text).toMatch(/IOMMU_HWPT_ALLOC of a nested HWPT over HWPT \d+ with flags 0x\d+ answered EINVAL/);
      expect(r.reference, r.text).toEqual([]);
    }
  });

  check('suite.invariants.get-info-short-struct', async () => {
    // An older caller's 16-byte struct (argsz 16): cap_offset and pad are its own memory, not written.
    const p = program('get-info-argsz-16', [
      ...context,
      { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_VFIO_IOAS', fields: { op: 'IOMMU_VFIO_IOAS_SET', ioas_id: '$ioas' } },
      { op: 'ioctl', fd: '$fd', cmd: 'VFIO_IOMMU_GET_INFO', fields: { argsz: 16, cap_offset: 1431655765, pad: 1431655765 }, expect: { ok: true } },
    ], { commands: ['IOMMU_VFIO_IOAS', 'VFIO_IOMMU_GET_INFO'] });
    const r = await judgeOn(p, 'compat-info-copies-full-struct', '7.3');
    expect(r.broken, r.text).toContain('invariants.abi-hygiene');
    expect(r.text).toMatch(/VFIO_IOMMU_GET_INFO with argsz 16 succeeded, but its argument came back changed at byte 16/);
    expect(r.reference, r.text).toEqual([]);
  });
});

describe('answers on rarely reached paths (red-team round 32)', () => {
  const vtdDevice = (name: string, iommu: string): Step[] => [
    { op: 'device_create', spec: { iommu }, bind: { [name]: 'device' } },
    { op: 'open_device', device: `$${name}`, bind: { [`${name}_fd`]: 'fd' } },
    { op: 'ioctl', fd: `$${name}_fd`, cmd: 'VFIO_DEVICE_BIND_IOMMUFD', fields: { iommufd: '$fd' }, bind: { [`${name}_id`]: 'out.out_devid' } },
  ];
  const hwInfo = (name: string): Step => ({ op: 'ioctl', fd: '$fd', cmd: 'IOMMU_GET_HW_INFO', fields: { dev_id: `$${name}_id`, data_len: 24, data_uptr: { room: 24 } }, expect: { ok: true } });

  check('suite.invariants.vtd-registers-agree', async () => {
    // A device behind vtd1 (no SC, no SLADS) reads vtd0's registers after a vtd0 device asked first.
    const latched = program('vtd-registers-latched', [...context, ...vtdDevice('a', 'vtd0'), ...vtdDevice('b', 'vtd1'), hwInfo('a'), hwInfo('b')], needs);
    for (const profile of ['6.12', '7.3'] as const) {
      const r = await judgeOn(latched, 'vtd-hw-info-latched-first-unit', profile);
      expect(r.broken, r.text).toContain('invariants.abi-hygiene');
      expect(r.text).toMatch(/for device \d+ \(vtd1\), which grants IOMMU_CAP_ENFORCE_CACHE_COHERENCY \(ecap\.SC\), but its IOMMU does not give it that/);
      expect(r.reference, r.text).toEqual([]);
    }
    // 6.12: a nesting parent made for a vtd1 device, whose ecap has no NEST.
    const nest = program('vtd-nest-parent-without-nest', [
      ...context,
      ...vtdDevice('b', 'vtd1'),
      hwInfo('b'),
      { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_HWPT_ALLOC', fields: { dev_id: '$b_id', pt_id: '$ioas', flags: 'IOMMU_HWPT_ALLOC_NEST_PARENT' }, expect: { errno: ['EOPNOTSUPP'] } },
    ], needs, ['6.12']);
    const r = await judgeOn(nest, 'vtd612-nest-parent-unit-unchecked', '6.12');
    expect(r.broken, r.text).toContain('invariants.abi-hygiene');
    expect(r.text).toMatch(/IOMMU_HWPT_ALLOC made a nesting parent for device \d+ \(vtd1\), whose GET_HW_INFO answered ecap_reg 0x[0-9a-f]+, without nested_supported/);
    expect(r.reference, r.text).toEqual([]);
  });

  check('suite.invariants.add-reserved-length-first', async () => {
    // Length 0 is refused first (EINVAL), at 0 and elsewhere: never a range to the end of the address space.
    const p = program('add-reserved-zero', [
      ...context,
      { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_TEST_CMD', fields: { op: 'IOMMU_TEST_OP_ADD_RESERVED', id: '$ioas', add_reserved: { start: '0x1000', length: '0' } }, expect: { errno: ['EINVAL'] } },
    ], { commands: ['IOMMU_TEST_CMD'], testOps: ['IOMMU_TEST_OP_ADD_RESERVED'] });
    const r = await judgeOn(p, 'add-reserved-zero-length-unchecked', '7.3');
    expect(r.broken, r.text).toContain('invariants.abi-hygiene');
    expect(r.text).toMatch(/IOMMU_TEST_OP_ADD_RESERVED of length 0x0 at 0x1000 answered EOVERFLOW: a length of 0 is refused first \(EINVAL\)/);
    expect(r.reference, r.text).toEqual([]);
  });

  check('suite.invariants.allow-iovas-single-byte-refused', async () => {
    const p = program('allow-one-byte', [
      ...context,
      { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_IOAS_ALLOW_IOVAS', fields: { ioas_id: '$ioas', num_iovas: 1, allowed_iovas: { data: { u64s: ['0x1000000', '0x1000000'] } } }, expect: { errno: ['EINVAL'] } },
    ], { commands: ['IOMMU_IOAS_ALLOW_IOVAS'] });
    const r = await judgeOn(p, 'load-iovas-single-byte-range', '7.3');
    expect(r.broken, r.text).toContain('invariants.abi-hygiene');
    expect(r.text).toMatch(/IOMMU_IOAS_ALLOW_IOVAS succeeded with the range 0x1000000\.\.0x1000000/);
    expect(r.reference, r.text).toEqual([]);
  });

  check('suite.invariants.noiommu-needs-noiommu-mode', async () => {
    const p = program('set-noiommu', [
      ...context,
      { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_VFIO_IOAS', fields: { op: 'IOMMU_VFIO_IOAS_SET', ioas_id: '$ioas' } },
      { op: 'ioctl', fd: '$fd', cmd: 'VFIO_SET_IOMMU', arg: { kind: 'int', value: 'VFIO_NOIOMMU_IOMMU' }, expect: { errno: ['EINVAL'] } },
    ], { commands: ['IOMMU_VFIO_IOAS', 'VFIO_SET_IOMMU'] });
    const r = await judgeOn(p, 'compat-set-noiommu-mode-unchecked', '6.12');
    expect(r.broken, r.text).toContain('invariants.abi-hygiene');
    expect(r.text).toMatch(/VFIO_SET_IOMMU of VFIO_NOIOMMU_IOMMU succeeded on a context not in no-IOMMU mode/);
    expect(r.reference, r.text).toEqual([]);
  });

  check('suite.invariants.v1-cut-aligned', async () => {
    // A type1 v1 unmap 1 KiB into a page of a mapping a mock domain holds: the cut is refused (EINVAL).
    const p = program('v1-unaligned-cut', [
      { op: 'mem_alloc', length: 65536, hugeAligned: true, bind: { buf: '.' } },
      ...context,
      { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_TEST_CMD', fields: { op: 'IOMMU_TEST_OP_MOCK_DOMAIN', id: '$ioas', mock_domain: {} } },
      { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_VFIO_IOAS', fields: { op: 'IOMMU_VFIO_IOAS_SET', ioas_id: '$ioas' } },
      { op: 'ioctl', fd: '$fd', cmd: 'VFIO_SET_IOMMU', arg: { kind: 'int', value: 'VFIO_TYPE1_IOMMU' } },
      { op: 'ioctl', fd: '$fd', cmd: 'VFIO_IOMMU_MAP_DMA', fields: { flags: 'VFIO_DMA_MAP_FLAG_READ|VFIO_DMA_MAP_FLAG_WRITE', vaddr: '$buf.va', size: '65536', iova: '0x1000000' } },
      { op: 'ioctl', fd: '$fd', cmd: 'VFIO_IOMMU_UNMAP_DMA', fields: { size: '0x7c00', iova: '0x1008400' }, expect: { errno: ['EINVAL'] } },
    ], { commands: ['IOMMU_TEST_CMD', 'IOMMU_VFIO_IOAS', 'VFIO_SET_IOMMU', 'VFIO_IOMMU_MAP_DMA', 'VFIO_IOMMU_UNMAP_DMA'], testOps: ['IOMMU_TEST_OP_MOCK_DOMAIN'] });
    const r = await judgeOn(p, 'split-skips-alignment-check', '7.3');
    expect(r.broken, r.text).toContain('invariants.dma-confinement');
    expect(r.text).toMatch(/VFIO_IOMMU_UNMAP_DMA succeeded, but IOAS \d+ now holds an area at 0x1000000\.\.0x10083ff .* off its alignment 4096/);
    expect(r.reference, r.text).toEqual([]);
  });

  check('suite.invariants.smmu-flag-combinations', async () => {
    // 7.3 SMMUv3: a nesting parent is NEST_PARENT alone; with PASID the driver refuses it (EOPNOTSUPP).
    const p = program('smmu-nest-pasid', [
      ...context,
      ...vtdDevice('d', 'smmu0'),
      { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_HWPT_ALLOC', fields: { flags: 'IOMMU_HWPT_ALLOC_NEST_PARENT|IOMMU_HWPT_ALLOC_PASID', dev_id: '$d_id', pt_id: '$ioas' }, expect: { errno: ['EOPNOTSUPP'] } },
    ], needs, ['7.3']);
    const r = await judgeOn(p, 'smmu-alloc-switch-masks-pasid', '7.3');
    expect(r.broken, r.text).toContain('invariants.abi-hygiene');
    expect(r.text).toMatch(/IOMMU_HWPT_ALLOC of a paging HWPT with flags 0x[0-9a-f]+ succeeded for device \d+ \(smmu0, SMMUv3\)/);
    expect(r.reference, r.text).toEqual([]);
  });

  check('suite.invariants.amd-flag-combinations', async () => {
    // 7.3 AMD: PASID asks for a v2 table and takes no other flag (EOPNOTSUPP for NEST_PARENT|PASID).
    const p = program('amd-parent-pasid', [
      ...context,
      ...vtdDevice('d', 'amd0'),
      { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_HWPT_ALLOC', fields: { flags: 'IOMMU_HWPT_ALLOC_NEST_PARENT|IOMMU_HWPT_ALLOC_PASID', dev_id: '$d_id', pt_id: '$ioas' }, expect: { errno: ['EOPNOTSUPP'] } },
    ], needs, ['7.3']);
    const broken = await replayProgram(p, { impl: 'conformance/mutants/fixtures/amd-paging-flags-masked.ts', profile: '7.3', oracle: 'invariants' });
    const onRef = await replayProgram(p, { impl: 'ref', profile: '7.3', oracle: 'invariants' });
    expect(broken.objections.map((o) => o.property), broken.text).toContain('invariants.abi-hygiene');
    expect(broken.text).toMatch(/flags 0x[0-9a-f]+ succeeded for device \d+ \(amd0, AMD\), whose driver takes no flag, DIRTY_TRACKING and NEST_PARENT/);
    expect(onRef.objections, onRef.text).toEqual([]);
  });

  check('suite.invariants.device-pasid-width', async () => {
    // A device created without PASID answers 0, whatever the caller's struct held there.
    const p = program('pasid-width-stale', [
      ...context,
      ...vtdDevice('d', 'vtd0'),
      { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_GET_HW_INFO', fields: { dev_id: '$d_id', out_max_pasid_log2: 20 }, expect: { ok: true } },
    ], needs);
    const r = await judgeOn(p, 'hw-info-max-pasid-not-cleared', '7.3');
    expect(r.broken, r.text).toContain('invariants.abi-hygiene');
    expect(r.text).toMatch(/answered out_max_pasid_log2 20 for device \d+, created with 0 PASID bits/);
    expect(r.reference, r.text).toEqual([]);
  });

  check('suite.invariants.auto-domain-first-in-order', async () => {
    // Two automatic HWPTs of vtd0 on one IOAS (the second for a device that cannot enforce): a third
    // device lands on the first, which takes it, not on the newer one.
    const dev = (name: string, spec: Record<string, unknown>): Step[] => [
      { op: 'device_create', spec: { iommu: 'vtd0', ...spec }, bind: { [name]: 'device' } },
      { op: 'open_device', device: `$${name}`, bind: { [`${name}_fd`]: 'fd' } },
      { op: 'ioctl', fd: `$${name}_fd`, cmd: 'VFIO_DEVICE_BIND_IOMMUFD', fields: { iommufd: '$fd' } },
    ];
    const attach = (name: string): Step => ({ op: 'ioctl', fd: `$${name}_fd`, cmd: 'VFIO_DEVICE_ATTACH_IOMMUFD_PT', fields: { pt_id: '$ioas' } });
    const p = program('auto-domain-order', [...context, ...dev('y', {}), ...dev('x', { enforceCacheCoherency: false }), ...dev('z', {}), attach('y'), attach('x'), attach('z')], { ops: ['device_create', 'open_device'], commands: ['VFIO_DEVICE_BIND_IOMMUFD', 'VFIO_DEVICE_ATTACH_IOMMUFD_PT'] });
    const r = await judgeOn(p, 'hwpt-paging-list-add-head', '7.3');
    expect(r.broken, r.text).toContain('invariants.lifetime');
    expect(r.text).toMatch(/answered automatic HWPT \d+, but automatic HWPT \d+, made before it for vtd0 too, takes the device/);
    expect(r.reference, r.text).toEqual([]);
  });
});

describe('answers on rarely reached paths (red-team round 33)', () => {
  check('suite.invariants.get-info-argsz-is-the-chain', async () => {
    // A caller with room to spare (argsz 256) gets back the size the struct and its chain take, not its own.
    const p = program('get-info-roomy', [
      ...context,
      { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_VFIO_IOAS', fields: { op: 'IOMMU_VFIO_IOAS_SET', ioas_id: '$ioas' } },
      { op: 'ioctl', fd: '$fd', cmd: 'VFIO_IOMMU_GET_INFO', fields: { argsz: 256 }, tail: { fill: 0, length: 232 }, expect: { ok: true } },
    ], { commands: ['IOMMU_VFIO_IOAS', 'VFIO_IOMMU_GET_INFO'] });
    const r = await judgeOn(p, 'compat-info-argsz-kept-when-roomy', '7.3');
    expect(r.broken, r.text).toContain('invariants.abi-hygiene');
    expect(r.text).toMatch(/VFIO_IOMMU_GET_INFO with argsz 256 answered argsz 256, but the struct and the capability chain it wrote take \d+ bytes/);
    expect(r.reference, r.text).toEqual([]);
  });

  const writeOnlyRead = (iommu: string, nestParent: boolean): Step[] => [
    ...withBuffer(16384),
    { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_IOAS_MAP', fields: { ioas_id: '$ioas', flags: 'IOMMU_IOAS_MAP_FIXED_IOVA|IOMMU_IOAS_MAP_WRITEABLE', user_va: '$buf.va', length: '4096', iova: '0x1000000' } },
    { op: 'device_create', spec: { iommu }, bind: { d: 'device' } },
    { op: 'open_device', device: '$d', bind: { dfd: 'fd' } },
    { op: 'ioctl', fd: '$dfd', cmd: 'VFIO_DEVICE_BIND_IOMMUFD', fields: { iommufd: '$fd' }, bind: { d_id: 'out.out_devid' } },
    ...(nestParent ? [{ op: 'ioctl', fd: '$fd', cmd: 'IOMMU_HWPT_ALLOC', fields: { dev_id: '$d_id', pt_id: '$ioas', flags: 'IOMMU_HWPT_ALLOC_NEST_PARENT' }, bind: { parent: 'out.out_hwpt_id' } } as Step] : []),
    { op: 'ioctl', fd: '$dfd', cmd: 'VFIO_DEVICE_ATTACH_IOMMUFD_PT', fields: { pt_id: nestParent ? '$parent' : '$ioas' } },
    { op: 'dma', device: '$d', iova: '0x1000000', dir: 'read', length: 6, expect: { ok: true, result: { ok: false, fault: 'permission' } } },
  ];
  const dmaNeeds = { ops: ['device_create', 'open_device', 'dma', 'translate'], commands: ['VFIO_DEVICE_BIND_IOMMUFD', 'VFIO_DEVICE_ATTACH_IOMMUFD_PT', 'IOMMU_HWPT_ALLOC'] };

  check('suite.invariants.write-only-stays-unreadable-s2', async () => {
    // 7.3: the VT-d second stage and an SMMUv3 nesting parent (stage 2) keep read and write apart.
    for (const [fault, iommu, nest] of [['vtdss-write-only-sets-read', 'vtd0', false], ['smmu-nest-parent-stage1', 'smmu0', true]] as const) {
      const r = await judgeOn(program(`write-only-${iommu}`, writeOnlyRead(iommu, nest), dmaNeeds, ['7.3']), fault, '7.3');
      expect(r.broken, r.text).toContain('invariants.dma-confinement');
      expect(r.text).toMatch(/may read at 0x1000000, but the mapping is write-only .* \(DMA\.WRITE_ONLY_UNREADABLE\)/);
      expect(r.reference, r.text).toEqual([]);
    }
  });

  check('suite.invariants.smmu-granules-reported', async () => {
    // 7.3 SMMUv3's IDR5 carries the granules its 4K, 2M and 1G page sizes come from.
    const p = program('smmu-idr5', [
      ...context,
      { op: 'device_create', spec: { iommu: 'smmu0' }, bind: { d: 'device' } },
      { op: 'open_device', device: '$d', bind: { dfd: 'fd' } },
      { op: 'ioctl', fd: '$dfd', cmd: 'VFIO_DEVICE_BIND_IOMMUFD', fields: { iommufd: '$fd' }, bind: { d_id: 'out.out_devid' } },
      { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_GET_HW_INFO', fields: { dev_id: '$d_id', data_len: 40, data_uptr: { room: 40 } }, expect: { ok: true } },
    ], { ops: ['device_create', 'open_device'], commands: ['VFIO_DEVICE_BIND_IOMMUFD', 'IOMMU_GET_HW_INFO'] }, ['7.3']);
    const r = await judgeOn(p, 'smmu-hw-info-idr5-unread', '7.3');
    expect(r.broken, r.text).toContain('invariants.abi-hygiene');
    expect(r.text).toMatch(/answered IDR5 0x0 for device \d+ \(smmu0\), without GRAN4K/);
    expect(r.reference, r.text).toEqual([]);
  });
});

describe('answers on rarely reached paths (red-team round 34)', () => {
  const info = (len: number): Step => ({ op: 'ioctl', fd: '$fd', cmd: 'IOMMU_GET_HW_INFO', fields: { dev_id: '$d_id', data_len: len, data_uptr: { room: len } }, expect: { ok: true } });

  check('suite.invariants.allow-iovas-overlap-refused', async () => {
    // The second range starts below the first and reaches into it: one request's ranges may not meet.
    const p = program('allow-overlap', [
      ...context,
      { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_IOAS_ALLOW_IOVAS', fields: { ioas_id: '$ioas', num_iovas: 2, allowed_iovas: { data: { u64s: ['0x100000', '0x1fffff', '0x0', '0x17ffff'] } } }, expect: { errno: ['EINVAL'] } },
    ], { commands: ['IOMMU_IOAS_ALLOW_IOVAS'] });
    const r = await judgeOn(p, 'load-iovas-overlap-start-only', '7.3');
    expect(r.broken, r.text).toContain('invariants.abi-hygiene');
    expect(r.text).toMatch(/IOMMU_IOAS_ALLOW_IOVAS succeeded with the range 0x0\.\.0x17ffff overlapping one before it/);
    expect(r.reference, r.text).toEqual([]);
  });

  check('suite.invariants.map-u64-max-refused', async () => {
    // An automatic map whose iova field holds ULONG_MAX is refused first (EOVERFLOW).
    const p = program('map-iova-top', [
      ...withBuffer(16384),
      { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_IOAS_MAP', fields: { ioas_id: '$ioas', flags: 'IOMMU_IOAS_MAP_READABLE', user_va: '$buf.va', length: '4096', iova: '0xffffffffffffffff' }, expect: { errno: ['EOVERFLOW'] } },
    ]);
    const r = await judgeOn(p, 'map-iova-top-unchecked', '7.3');
    expect(r.broken, r.text).toContain('invariants.abi-hygiene');
    expect(r.text).toMatch(/IOMMU_IOAS_MAP succeeded with iova 0xffffffffffffffff: an IOVA or length of ULONG_MAX or more is refused first/);
    expect(r.reference, r.text).toEqual([]);
  });

  check('suite.invariants.pasid-paging-alloc-succeeds', async () => {
    // 7.3: a PASID-capable paging HWPT for a VT-d device is built as the plain one.
    const p = program('pasid-paging', [...context, ...bindTo('vtd0'), { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_HWPT_ALLOC', fields: { dev_id: '$d_id', pt_id: '$ioas', flags: 'IOMMU_HWPT_ALLOC_PASID' }, expect: { ok: true } }], needs, ['7.3']);
    const r = await judgeOn(p, 'hwpt-paging-flags-lack-pasid', '7.3');
    expect(r.broken, r.text).toContain('invariants.lifetime');
    expect(r.text).toMatch(/IOMMU_HWPT_ALLOC of a paging HWPT \(IOMMU_HWPT_ALLOC_PASID alone, no driver data\) for device \d+ \(vtd0\) over IOAS \d+ failed with EOPNOTSUPP/);
    expect(r.reference, r.text).toEqual([]);
  });

  check('suite.invariants.driver-registers-agree', async () => {
    // 7.3 AMD: EFR without GT cannot nest; VT-d: every unit reports ERRATA_772415_SPR17; SMMUv3: AIDR is a revision.
    const amd = program('amd-nest-without-gt', [...context, ...bindTo('amd0'), info(16), { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_HWPT_ALLOC', fields: { dev_id: '$d_id', pt_id: '$ioas', flags: 'IOMMU_HWPT_ALLOC_NEST_PARENT' }, expect: { errno: ['EOPNOTSUPP'] } }], needs, ['7.3']);
    const errata = program('vtd1-errata', [...context, ...bindTo('vtd1'), info(24)], needs);
    const aidr = program('smmu-aidr', [...context, ...bindTo('smmu0'), info(40)], needs, ['7.3']);
    for (const [p, fault, profile, text] of [
      [amd, 'amd-nest-parent-gt-unchecked', '7.3', /made a nesting parent for device \d+ \(amd0\), whose GET_HW_INFO answered efr 0x[0-9a-f]+, efr2 0x[0-9a-f]+, without is_nest_parent_supported/],
      [errata, 'vtd-hw-info-errata-nesting-only', '6.12', /answered VT-d flags 0x0 for device \d+ \(vtd1\), without IOMMU_HW_INFO_VTD_ERRATA_772415_SPR17/],
      [aidr, 'smmu-hw-info-aidr-reads-iidr', '7.3', /answered AIDR 0x43b for device \d+ \(smmu0\)/],
    ] as const) {
      const r = await judgeOn(p, fault, profile);
      expect(r.broken, r.text).toContain('invariants.abi-hygiene');
      expect(r.text).toMatch(text);
      expect(r.reference, r.text).toEqual([]);
    }
  });

  check('suite.invariants.pasid-detach-keeps-rid', async () => {
    // 7.3: a PASID detach leaves the device's own (RID) attachment: it still reaches the IOAS.
    const p = program('pasid-detach', [
      ...withBuffer(16384),
      { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_IOAS_MAP', fields: { ioas_id: '$ioas', flags: 'IOMMU_IOAS_MAP_FIXED_IOVA|IOMMU_IOAS_MAP_READABLE|IOMMU_IOAS_MAP_WRITEABLE', user_va: '$buf.va', length: '4096', iova: '0x1000000' } },
      ...bindTo('vtd0'),
      { op: 'ioctl', fd: '$dfd', cmd: 'VFIO_DEVICE_ATTACH_IOMMUFD_PT', fields: { pt_id: '$ioas' } },
      { op: 'ioctl', fd: '$dfd', cmd: 'VFIO_DEVICE_DETACH_IOMMUFD_PT', fields: { flags: 'VFIO_DEVICE_DETACH_PASID', pasid: 1 } },
      { op: 'dma', device: '$d', iova: '0x1000000', dir: 'read', length: 8 },
    ], { ops: ['device_create', 'open_device', 'dma'], commands: ['VFIO_DEVICE_BIND_IOMMUFD', 'VFIO_DEVICE_ATTACH_IOMMUFD_PT', 'VFIO_DEVICE_DETACH_IOMMUFD_PT'] }, ['7.3']);
    const r = await judgeOn(p, 'cdev-detach-pasid-detaches-rid', '7.3');
    expect(r.broken.some((x) => x === 'invariants.group-isolation' || x === 'invariants.dma-confinement'), r.text).toBe(true);
    expect(r.reference, r.text).toEqual([]);
  });
});


describe('answers on rarely reached paths (red-team round 36)', () => {

  check('suite.invariants.get-info-flags', async () => {
    // GET_INFO with argsz 0 past the struct: no room for the chain, which exists all the same (flags CAPS).
    const p = program('get-info-flags', [
      ...context,
      { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_VFIO_IOAS', fields: { op: 'IOMMU_VFIO_IOAS_SET', ioas_id: '$ioas' } },
      { op: 'ioctl', fd: '$fd', cmd: 'VFIO_IOMMU_GET_INFO', fields: {}, expect: { ok: true } },
    ], { commands: ['IOMMU_VFIO_IOAS', 'VFIO_IOMMU_GET_INFO'] });
    const r = await judge(p, 'conformance/mutants/unseen/compat-info-caps-flag-only-with-room.ts');
    expect(r.broken, r.text).toContain('invariants.abi-hygiene');
    expect(r.text).toMatch(/VFIO_IOMMU_GET_INFO answered flags 0x1: .* \(VFIO_COMPAT\.GET_INFO\)/);
    expect(r.reference, r.text).toEqual([]);
  });

  check('suite.invariants.hw-info-vendor-members-zeroed', async () => {
    // 7.3 SMMUv3's hardware info whole: flags has one bit defined, __reserved none.
    const p = program('smmu-info-zeroed', [
      ...context,
      ...bindTo('smmu0'),
      { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_GET_HW_INFO', fields: { dev_id: '$d_id', data_len: 40, data_uptr: { room: 40 } }, expect: { ok: true } },
    ], needs, ['7.3']);
    const r = await judgeOn(p, 'smmu-hw-info-kmalloc-reserved', '7.3');
    expect(r.broken, r.text).toContain('invariants.abi-hygiene');
    expect(r.text).toMatch(/answered iommu_hw_info_arm_smmuv3 for device \d+ \(smmu0\) with flags 0x6b6b6b6b, with bits iommu_hw_info_arm_smmuv3_flags does not define/);
    expect(r.reference, r.text).toEqual([]);
  });

  check('suite.invariants.nested-on-plain-parent', async () => {
    // A nested HWPT with IOMMU_HWPT_ALLOC_PASID (7.3: a flag nesting takes) over a paging HWPT made
    // without NEST_PARENT: the parent test refuses it (EINVAL), not the flags test (EOPNOTSUPP).
    const p = program('nested-on-plain-parent', [
      ...context,
      mockDomain,
      { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_HWPT_ALLOC', fields: { dev_id: '$idev', pt_id: '$ioas' }, bind: { plain: 'out.out_hwpt_id' } },
      { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_HWPT_ALLOC', fields: { dev_id: '$idev', pt_id: '$plain', flags: 'IOMMU_HWPT_ALLOC_PASID', data_type: 'IOMMU_HWPT_DATA_SELFTEST', data_len: 8, data_uptr: { data: { u32s: [0, 0] } } }, expect: { errno: ['EINVAL'] } },
    ], { commands: ['IOMMU_TEST_CMD', 'IOMMU_HWPT_ALLOC'], testOps: ['IOMMU_TEST_OP_MOCK_DOMAIN'] }, ['7.3']);
    const r = await judgeOn(p, 'nested-alloc-refuses-pasid-flag', '7.3');
    expect(r.broken, r.text).toContain('invariants.abi-hygiene');
    expect(r.text).toMatch(/over HWPT \d+, allocated without IOMMU_HWPT_ALLOC_NEST_PARENT, answered EOPNOTSUPP/);
    expect(r.reference, r.text).toEqual([]);
  });

  check('suite.invariants.hwpt-alloc-pt-id', async () => {
    // pt_id names nothing: EINVAL once the device is found, not the lookup's ENOENT.
    const p = program('hwpt-alloc-no-pt', [
      ...context,
      mockDomain,
      { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_HWPT_ALLOC', fields: { dev_id: '$idev', pt_id: 9999 }, expect: { errno: ['EINVAL'] } },
    ], { commands: ['IOMMU_TEST_CMD', 'IOMMU_HWPT_ALLOC'], testOps: ['IOMMU_TEST_OP_MOCK_DOMAIN'] });
    for (const profile of ['6.12', '7.3'] as const) {
      const r = await judgeOn(p, 'hwpt-alloc-pt-lookup-errno', profile);
      expect(r.broken, r.text).toContain('invariants.abi-hygiene');
      expect(r.text).toMatch(/IOMMU_HWPT_ALLOC with pt_id 9999, which names no object of the context, answered ENOENT/);
      expect(r.reference, r.text).toEqual([]);
    }
  });

  check('suite.invariants.hwpt-alloc-paging-data', async () => {
    // VT-d's first-stage data given to a paging allocation: the driver takes no user data there.
    const p = program('paging-with-vtd-data', [
      ...context,
      ...bindTo('vtd0'),
      { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_HWPT_ALLOC', fields: { dev_id: '$d_id', pt_id: '$ioas', data_type: 'IOMMU_HWPT_DATA_VTD_S1', data_len: 32, data_uptr: { data: { fill: 0, length: 32 } } }, expect: { errno: ['EOPNOTSUPP'] } },
    ], needs);
    for (const profile of ['6.12', '7.3'] as const) {
      const r = await judgeOn(p, 'vtd-alloc-user-data-ignored', profile);
      expect(r.broken, r.text).toContain('invariants.abi-hygiene');
      expect(r.text).toMatch(/IOMMU_HWPT_ALLOC of a paging HWPT over IOAS \d+ for device \d+ \(vtd0, driver intel\) succeeded with driver data of type 1/);
      expect(r.reference, r.text).toEqual([]);
    }
  });

  check('suite.invariants.temp-memory-limit', async () => {
    // 12 bytes is one batch entry: the least limit taken. 11 is refused.
    const limit = (n: number, expect: Step['expect']): Step => ({ op: 'ioctl', fd: '$fd', cmd: 'IOMMU_TEST_CMD', fields: { op: 'IOMMU_TEST_OP_SET_TEMP_MEMORY_LIMIT', memory_limit: { limit: n } }, expect });
    const p = program('temp-memory-limit', [...context, limit(11, { errno: ['EINVAL'] }), limit(12, { ok: true }), limit(65536, { ok: true })], { testOps: ['IOMMU_TEST_OP_SET_TEMP_MEMORY_LIMIT'] });
    const r = await judge(p, 'conformance/mutants/unseen/temp-memory-limit-bound-inclusive.ts');
    expect(r.broken, r.text).toContain('invariants.abi-hygiene');
    expect(r.text).toMatch(/IOMMU_TEST_OP_SET_TEMP_MEMORY_LIMIT of 12 bytes answered EINVAL/);
    expect(r.reference, r.text).toEqual([]);
  });
});

describe('answers on rarely reached paths (red-team round 37)', () => {
  check('suite.invariants.hwpt-data-mismatch-first', async () => {
    // data_len without a data type, naming a device that does not exist: the data test comes first (EINVAL).
    const p = program('hwpt-len-no-type', [
      ...context,
      { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_HWPT_ALLOC', fields: { dev_id: 9999, pt_id: '$ioas', data_len: 8, data_uptr: { data: { u32s: [0, 0] } } }, expect: { errno: ['EINVAL'] } },
    ], { commands: ['IOMMU_HWPT_ALLOC'] });
    for (const profile of ['6.12', '7.3'] as const) {
      const r = await judgeOn(p, 'hwpt-alloc-none-data-len-accepted', profile);
      expect(r.broken, r.text).toContain('invariants.abi-hygiene');
      expect(r.text).toMatch(/IOMMU_HWPT_ALLOC with data_type 0 and data_len 8 failed with ENOENT: .* \(HWPT_ALLOC\.DATA_LEN_MISMATCH\)/);
      expect(r.reference, r.text).toEqual([]);
    }
  });

  check('suite.invariants.hwpt-alloc-fault-nest-parent', async () => {
    // A nesting parent asked for with a fault queue (fault_id the IOAS: none): EOPNOTSUPP before the domain is built.
    const p = program('nest-parent-fault', [
      ...context,
      mockDomain,
      { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_HWPT_ALLOC', fields: { flags: 'IOMMU_HWPT_ALLOC_NEST_PARENT|IOMMU_HWPT_FAULT_ID_VALID', dev_id: '$idev', pt_id: '$ioas', fault_id: '$ioas' }, expect: { errno: ['EOPNOTSUPP'] } },
    ], { commands: ['IOMMU_TEST_CMD', 'IOMMU_HWPT_ALLOC'], testOps: ['IOMMU_TEST_OP_MOCK_DOMAIN'] }, ['7.3']);
    const r = await judgeOn(p, 'hwpt-alloc-fault-id-with-nest-parent', '7.3');
    expect(r.broken, r.text).toContain('invariants.abi-hygiene');
    expect(r.text).toMatch(/with IOMMU_HWPT_FAULT_ID_VALID and IOMMU_HWPT_ALLOC_NEST_PARENT failed with ENOENT/);
    expect(r.reference, r.text).toEqual([]);
  });

  check('suite.invariants.cc-iommu-needs-compat-ioas', async () => {
    // No compat IOAS: VFIO_DMA_CC_IOMMU has nothing to judge (ENODEV).
    const p = program('cc-no-ioas', [
      ...context,
      { op: 'ioctl', fd: '$fd', cmd: 'VFIO_CHECK_EXTENSION', arg: { kind: 'int', value: 'VFIO_DMA_CC_IOMMU' }, expect: { errno: ['ENODEV'] } },
    ], { commands: ['VFIO_CHECK_EXTENSION'] });
    const r = await judge(p, 'conformance/mutants/unseen/compat-cc-no-ioas-answers-zero.ts');
    expect(r.broken, r.text).toContain('invariants.abi-hygiene');
    expect(r.text).toMatch(/VFIO_CHECK_EXTENSION\(VFIO_DMA_CC_IOMMU\) answered 0 on a context with no compat IOAS/);
    expect(r.reference, r.text).toEqual([]);
  });

  check('suite.invariants.hw-info-vendor-length', async () => {
    // VT-d's data is its whole struct (24 bytes), whatever the buffer: 8 is a pointer's size.
    const p = program('vtd-info-length', [
      ...context,
      ...bindTo('vtd1'),
      { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_GET_HW_INFO', fields: { dev_id: '$d_id', data_len: 24, data_uptr: { room: 24 } }, expect: { ok: true } },
    ], needs);
    for (const profile of ['6.12', '7.3'] as const) {
      const r = await judgeOn(p, 'vtd-hw-info-length-sizeof-pointer', profile);
      expect(r.broken, r.text).toContain('invariants.abi-hygiene');
      expect(r.text).toMatch(/IOMMU_GET_HW_INFO answered type 1 for device \d+ \(vtd1\) with data_len 8, short of struct iommu_hw_info_vtd \(24 bytes/);
      expect(r.reference, r.text).toEqual([]);
    }
  });

  check('suite.invariants.unfinalized-object-invisible', async () => {
    // The lowest free id is the mock domain's own selftest object's, not yet finalized: nothing there (ENOENT).
    const p = program('mock-domain-own-id', [
      ...context,
      { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_IOAS_ALLOC', fields: {}, bind: { second: 'out.out_ioas_id' } },
      { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_DESTROY', fields: { id: '$ioas' } },
      { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_TEST_CMD', fields: { op: 'IOMMU_TEST_OP_MOCK_DOMAIN', id: '$ioas', mock_domain: {} }, expect: { errno: ['ENOENT'] } },
    ], { commands: ['IOMMU_TEST_CMD', 'IOMMU_DESTROY'], testOps: ['IOMMU_TEST_OP_MOCK_DOMAIN'] });
    for (const profile of ['6.12', '7.3'] as const) {
      const r = await judgeOn(p, 'mock-domain-finalize-before-attach', profile);
      expect(r.broken, r.text).toContain('invariants.lifetime');
      expect(r.text).toMatch(/IOMMU_TEST_OP_MOCK_DOMAIN naming id 1, the lowest id free in the context, failed with EINVAL/);
      expect(r.reference, r.text).toEqual([]);
    }
  });
});

describe('answers on rarely reached paths (red-team round 38)', () => {
  const mapAt = (iova: string, length: string): Step => ({ op: 'ioctl', fd: '$fd', cmd: 'IOMMU_IOAS_MAP', fields: { ioas_id: '$ioas', flags: 'IOMMU_IOAS_MAP_FIXED_IOVA|IOMMU_IOAS_MAP_WRITEABLE|IOMMU_IOAS_MAP_READABLE', user_va: '$buf.va', length, iova } });

  check('suite.invariants.copy-zero-length', async () => {
    // A COPY of nothing from an area that is there: iopt_get_pages refuses the length first.
    const p = program('copy-zero-length', [
      ...open,
      mapAt('0x1000000', '8192'),
      { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_IOAS_COPY', fields: { dst_ioas_id: '$ioas', src_ioas_id: '$ioas', flags: 'IOMMU_IOAS_MAP_WRITEABLE|IOMMU_IOAS_MAP_READABLE', src_iova: '0x1000000', length: '0', dst_iova: '0' }, expect: { errno: ['EINVAL'] } },
    ], { commands: ['IOMMU_IOAS_COPY'] });
    const r = await judge(p, 'conformance/mutants/unseen/get-pages-zero-length-unchecked.ts');
    expect(r.broken, r.text).toContain('invariants.abi-hygiene');
    expect(r.text).toMatch(/IOMMU_IOAS_COPY of length 0 from IOVA 0x1000000 of IOAS \d+ failed with EOVERFLOW/);
    expect(r.reference, r.text).toEqual([]);
  });

  check('suite.invariants.access-zero-length', async () => {
    // A pin of nothing where the IOAS maps pages: refused before the last IOVA is computed.
    const p = program('access-zero-length', [
      ...open,
      { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_TEST_CMD', fields: { op: 'IOMMU_TEST_OP_CREATE_ACCESS', id: '$ioas', create_access: { flags: 'MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES' } }, bind: { access: 'out.create_access.out_access_fd' } },
      mapAt('0x1000000', '16384'),
      { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_TEST_CMD', fields: { op: 'IOMMU_TEST_OP_ACCESS_PAGES', id: '$access', access_pages: { iova: '0x1000000', length: '0', uptr: '$buf.va' } }, expect: { errno: ['EINVAL'] } },
    ], { testOps: ['IOMMU_TEST_OP_CREATE_ACCESS', 'IOMMU_TEST_OP_ACCESS_PAGES'] });
    const r = await judge(p, 'conformance/mutants/unseen/access-pin-zero-length-unchecked.ts');
    expect(r.broken, r.text).toContain('invariants.abi-hygiene');
    expect(r.text).toMatch(/IOMMU_TEST_OP_ACCESS_PAGES of length 0 at 0x1000000 failed with EOVERFLOW/);
    expect(r.reference, r.text).toEqual([]);
  });

  check('suite.invariants.auto-iova-page-offset', async () => {
    // An automatic map of user memory 256 bytes into a page, in an IOAS nothing aligns yet (alignment 1).
    const p = program('auto-iova-page-offset', [
      ...open,
      { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_IOAS_MAP', fields: { ioas_id: '$ioas', flags: 'IOMMU_IOAS_MAP_WRITEABLE|IOMMU_IOAS_MAP_READABLE', user_va: { $: 'buf', field: 'va', add: 256 }, length: '4096', iova: '0' }, expect: { ok: true } },
    ], { commands: ['IOMMU_IOAS_MAP'] });
    const r = await judge(p, 'conformance/mutants/unseen/alloc-area-pages-hint-drops-start-byte.ts');
    expect(r.broken, r.text).toContain('invariants.abi-hygiene');
    expect(r.text).toMatch(/chose the automatic IOVA 0x\w+ in IOAS \d+, at page offset 0x0, but its user memory starts at page offset 0x100/);
    expect(r.reference, r.text).toEqual([]);
  });

  check('suite.invariants.check-refs-past-top', async () => {
    // Whole pages, but past the top of the address space: the overflow test refuses it.
    const p = program('check-refs-past-top', [
      ...open,
      { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_TEST_CMD', fields: { op: 'IOMMU_TEST_OP_MD_CHECK_REFS', check_refs: { uptr: '0xfffffffffffff000', length: '0x2000', refs: 0 } }, expect: { errno: ['EINVAL'] } },
    ], { testOps: ['IOMMU_TEST_OP_MD_CHECK_REFS'] });
    const r = await judge(p, 'conformance/mutants/unseen/md-check-refs-overflow-unchecked.ts');
    expect(r.broken, r.text).toContain('invariants.abi-hygiene');
    expect(r.text).toMatch(/IOMMU_TEST_OP_MD_CHECK_REFS of 0x2000 bytes at 0xfffffffffffff000 failed with E(FAULT|IO)/);
    expect(r.reference, r.text).toEqual([]);
  });

  check('suite.invariants.nested-without-data', async () => {
    // A nested allocation with no driver data over a plain paging HWPT: the first test's EOPNOTSUPP.
    const p = program('nested-without-data', [
      ...context,
      mockDomain,
      { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_HWPT_ALLOC', fields: { dev_id: '$idev', pt_id: '$hwpt' }, expect: { errno: ['EOPNOTSUPP'] } },
    ], { commands: ['IOMMU_TEST_CMD', 'IOMMU_HWPT_ALLOC'], testOps: ['IOMMU_TEST_OP_MOCK_DOMAIN'] });
    for (const profile of ['6.12', '7.3'] as const) {
      const r = await judgeOn(p, 'nested-alloc-empty-data-checks-parent', profile);
      expect(r.broken, r.text).toContain('invariants.abi-hygiene');
      expect(r.text).toMatch(/IOMMU_HWPT_ALLOC of a nested HWPT over HWPT \d+ with no driver data failed with EINVAL/);
      expect(r.reference, r.text).toEqual([]);
    }
  });

  check('suite.invariants.paging-fault-id-lookup', async () => {
    // 7.3: FAULT_ID_VALID alone is the core's; the domain is built, then fault_id (an IOAS) is no fault queue.
    const p = program('paging-fault-id', [
      ...context,
      mockDomain,
      { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_HWPT_ALLOC', fields: { flags: 'IOMMU_HWPT_FAULT_ID_VALID', dev_id: '$idev', pt_id: '$ioas', fault_id: '$ioas' }, expect: { errno: ['ENOENT'] } },
    ], { commands: ['IOMMU_TEST_CMD', 'IOMMU_HWPT_ALLOC'], testOps: ['IOMMU_TEST_OP_MOCK_DOMAIN'] }, ['7.3']);
    const r = await judgeOn(p, 'hwpt-alloc-fault-id-flag-to-driver', '7.3');
    expect(r.broken, r.text).toContain('invariants.lifetime');
    expect(r.text).toMatch(/IOMMU_HWPT_FAULT_ID_VALID alone, with a fault_id naming no fault queue.* failed with EOPNOTSUPP/);
    expect(r.reference, r.text).toEqual([]);
  });

  check('suite.invariants.bind-negative-iommufd', async () => {
    const p = program('bind-negative-iommufd', [
      { op: 'device_create', spec: { iommu: 'vtd0' }, bind: { d: 'device' } },
      { op: 'open_device', device: '$d', bind: { dfd: 'fd' } },
      { op: 'ioctl', fd: '$dfd', cmd: 'VFIO_DEVICE_BIND_IOMMUFD', fields: { iommufd: -1 }, expect: { errno: ['EINVAL'] } },
    ], needs);
    const r = await judge(p, 'conformance/mutants/unseen/cdev-bind-negative-iommufd-unchecked.ts');
    expect(r.broken, r.text).toContain('invariants.abi-hygiene');
    expect(r.text).toMatch(/VFIO_DEVICE_BIND_IOMMUFD with iommufd -1 failed with EBADF/);
    expect(r.reference, r.text).toEqual([]);
  });

  check('suite.invariants.mock-huge-aperture', async () => {
    // The huge table over an IOAS that maps 64 KiB in, below the default mock aperture: it keeps AMDv1's.
    const p = program('mock-huge-aperture', [
      ...open,
      { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_IOAS_ALLOC', fields: {}, bind: { other: 'out.out_ioas_id' } },
      { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_TEST_CMD', fields: { op: 'IOMMU_TEST_OP_MOCK_DOMAIN', id: '$other', mock_domain: {} }, bind: { idev: 'out.mock_domain.out_idev_id' } },
      mapAt('0x10000', '4096'),
      { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_HWPT_ALLOC', fields: { dev_id: '$idev', pt_id: '$ioas', data_type: 'IOMMU_HWPT_DATA_SELFTEST', data_len: 8, data_uptr: { data: { u32s: [0, MOCK_IOMMUPT_HUGE] } } }, expect: { ok: true } },
    ], { commands: ['IOMMU_TEST_CMD', 'IOMMU_HWPT_ALLOC'], testOps: ['IOMMU_TEST_OP_MOCK_DOMAIN'] }, ['7.3']);
    const r = await judgeOn(p, 'mock-huge-aperture-overridden', '7.3');
    expect(r.broken, r.text).toContain('invariants.lifetime');
    expect(r.text).toMatch(/asking for the huge mock page table.* failed with EADDRINUSE/);
    expect(r.reference, r.text).toEqual([]);
  });

  check('suite.invariants.auto-domain-replace-oldest-first', async () => {
    // vtd1 enforces no coherency; a device that can sits on its enforcing domain, a peer that cannot on a
    // second one. The first moved to the IOAS again stays: the search goes oldest first.
    const p = program('auto-domain-replace', [
      ...context,
      { op: 'device_create', spec: { iommu: 'vtd0' }, bind: { a: 'device' } },
      { op: 'device_create', spec: { iommu: 'vtd0', enforceCacheCoherency: false }, bind: { b: 'device' } },
      { op: 'open_device', device: '$a', bind: { afd: 'fd' } },
      { op: 'open_device', device: '$b', bind: { bfd: 'fd' } },
      { op: 'ioctl', fd: '$afd', cmd: 'VFIO_DEVICE_BIND_IOMMUFD', fields: { iommufd: '$fd' } },
      { op: 'ioctl', fd: '$bfd', cmd: 'VFIO_DEVICE_BIND_IOMMUFD', fields: { iommufd: '$fd' } },
      { op: 'ioctl', fd: '$afd', cmd: 'VFIO_DEVICE_ATTACH_IOMMUFD_PT', fields: { pt_id: '$ioas' } },
      { op: 'ioctl', fd: '$bfd', cmd: 'VFIO_DEVICE_ATTACH_IOMMUFD_PT', fields: { pt_id: '$ioas' } },
      { op: 'ioctl', fd: '$afd', cmd: 'VFIO_DEVICE_ATTACH_IOMMUFD_PT', fields: { pt_id: '$ioas' }, expect: { ok: true } },
    ], { ops: ['device_create', 'open_device'], commands: ['VFIO_DEVICE_BIND_IOMMUFD', 'VFIO_DEVICE_ATTACH_IOMMUFD_PT'] });
    const r = await judge(p, 'conformance/mutants/unseen/hwpt-paging-list-add-head.ts');
    expect(r.broken, r.text).toContain('invariants.lifetime');
    expect(r.text).toMatch(/to IOAS \d+ answered automatic HWPT \d+, but automatic HWPT \d+, made before it for vtd0 too, takes the device/);
    expect(r.reference, r.text).toEqual([]);
  });

  check('suite.invariants.md-check-map-half-page', async () => {
    // A page of a buffer mapped 2 KiB into an IOVA page of a mock-only IOAS: the check of that exact
    // mapping compares uptr's page and offset, not the IOVA's offset.
    const p = program('md-check-map-half-page', [
      ...open,
      mockDomain,
      mapAt('0x40000800', '2048'),
      { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_TEST_CMD', fields: { op: 'IOMMU_TEST_OP_MD_CHECK_MAP', id: '$hwpt', check_map: { iova: '0x40000800', length: '2048', uptr: '$buf.va' } }, expect: { ok: true } },
    ], { commands: ['IOMMU_TEST_CMD'], testOps: ['IOMMU_TEST_OP_MOCK_DOMAIN', 'IOMMU_TEST_OP_MD_CHECK_MAP'] });
    for (const profile of ['6.12', '7.3'] as const) {
      const r = await judgeOn(p, 'md-check-pa-offset-from-iova', profile);
      expect(r.broken, r.text).toContain('invariants.dma-confinement');
      expect(r.text).toMatch(/IOMMU_TEST_OP_MD_CHECK_MAP of IOVA 0x40000800\.\.\+0x800 in mock domain \d+ failed with EINVAL/);
      expect(r.reference, r.text).toEqual([]);
    }
  });
});

describe('answers on rarely reached paths (red-team round 39)', () => {
  check('suite.invariants.map-length-checks', async () => {
    // A length above SIZE_MAX - PAGE_SIZE from user_va 0, where nothing wraps: the length bound alone refuses it.
    const tooLong = program('map-length-bound', [
      ...context,
      { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_IOAS_MAP', fields: { ioas_id: '$ioas', flags: 'IOMMU_IOAS_MAP_WRITEABLE|IOMMU_IOAS_MAP_READABLE', user_va: '0', length: '0xfffffffffffff000', iova: '0' }, expect: { errno: ['EINVAL'] } },
    ], { commands: ['IOMMU_IOAS_MAP'] });
    for (const profile of ['6.12', '7.3'] as const) {
      const r = await judgeOn(tooLong, 'alloc-pages-length-bound-dropped', profile);
      expect(r.broken, r.text).toContain('invariants.abi-hygiene');
      expect(r.text).toMatch(/IOMMU_IOAS_MAP of 0xfffffffffffff000 byte\(s\) from user_va 0x0 at an automatic IOVA (succeeded|failed with EOVERFLOW): iopt_alloc_pages refuses a length of 0 or above SIZE_MAX - PAGE_SIZE/);
      expect(r.reference, r.text).toEqual([]);
    }
    // Half the address space at an automatic IOVA, in an IOAS nothing aligns yet (alignment 1).
    const half = program('map-auto-half', [
      ...open,
      { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_IOAS_MAP', fields: { ioas_id: '$ioas', flags: 'IOMMU_IOAS_MAP_WRITEABLE|IOMMU_IOAS_MAP_READABLE', user_va: '$buf.va', length: '0x7fffffffffffffff', iova: '0' }, expect: { errno: ['EOVERFLOW'] } },
    ], { commands: ['IOMMU_IOAS_MAP'] });
    const r = await judgeOn(half, 'alloc-iova-half-range-inclusive', '7.3');
    expect(r.broken, r.text).toContain('invariants.abi-hygiene');
    expect(r.text).toMatch(/iopt_alloc_iova refuses a length of ULONG_MAX \/ 2 or more first \(EOVERFLOW\) \(IOAS_MAP.AUTO_TOO_LONG\)/);
    expect(r.reference, r.text).toEqual([]);
  });

  check('suite.invariants.kvm-del-unregistered', async () => {
    // A device file the VM never registered: deleting it finds nothing (ENOENT).
    const p = program('kvm-del-unregistered', [
      ...open,
      ...bindTo('vtd0'),
      { op: 'kvm_create', bind: { vm: 'vm' } },
      { op: 'kvm_vfio_del', vm: '$vm', fd: '$dfd', expect: { ok: false } },
    ], { ops: ['kvm_create', 'kvm_vfio_del', 'device_create', 'open_device'], commands: ['VFIO_DEVICE_BIND_IOMMUFD'] });
    for (const profile of ['6.12', '7.3'] as const) {
      const r = await judgeOn(p, 'kvm-del-unregistered-returns-zero', profile);
      expect(r.broken, r.text).toContain('invariants.lifetime');
      expect(r.text).toMatch(/kvm_vfio_del of fd \d+ succeeded, but VM \d+ does not hold that file/);
      expect(r.reference, r.text).toEqual([]);
    }
  });

  check('suite.invariants.mock-ats-not-supported', async () => {
    // 7.3: the mock device has no ATS, so its hardware info says so.
    const p = program('mock-ats', [
      ...context,
      mockDomain,
      { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_GET_HW_INFO', fields: { dev_id: '$idev', data_len: 0, data_uptr: '0' }, expect: { ok: true } },
    ], { commands: ['IOMMU_TEST_CMD', 'IOMMU_GET_HW_INFO'], testOps: ['IOMMU_TEST_OP_MOCK_DOMAIN'] }, ['7.3']);
    const r = await judgeOn(p, 'hw-info-ats-not-supported-inverted', '7.3');
    expect(r.broken, r.text).toContain('invariants.abi-hygiene');
    expect(r.text).toMatch(/IOMMU_GET_HW_INFO of mock device \S+ answered out_capabilities 0x\w+ without IOMMU_HW_CAP_PCI_ATS_NOT_SUPPORTED/);
    expect(r.reference, r.text).toEqual([]);
  });

  check('suite.invariants.dma-lands-where-mapped', async () => {
    // A 2 MiB-aligned IOVA over memory one page past 2 MiB alignment: a block leaf chosen from the
    // IOVA alone carries an unaligned address, which the hardware does not add to the offset.
    const p = program('pgsize-from-iova', [
      ...withBuffer(8 << 20),
      ...bindTo('smmu0'),
      { op: 'ioctl', fd: '$dfd', cmd: 'VFIO_DEVICE_ATTACH_IOMMUFD_PT', fields: { pt_id: '$ioas' } },
      { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_IOAS_MAP', fields: { ioas_id: '$ioas', flags: 'IOMMU_IOAS_MAP_FIXED_IOVA|IOMMU_IOAS_MAP_READABLE|IOMMU_IOAS_MAP_WRITEABLE', user_va: { $: 'buf', field: 'va', add: 4096 }, length: '0x400000', iova: '0x40000000' }, expect: { ok: true } },
    ], { ops: ['device_create', 'open_device', 'dma'], commands: ['VFIO_DEVICE_BIND_IOMMUFD', 'VFIO_DEVICE_ATTACH_IOMMUFD_PT'] });
    for (const profile of ['6.12', '7.3'] as const) {
      const r = await judgeOn(p, 'iommu-pgsize-addr-merge-iova-only', profile);
      expect(r.broken, r.text).toContain('invariants.dma-confinement');
      expect(r.reference, r.text).toEqual([]);
    }
  });
});

describe('answers on rarely reached paths (red-team round 40)', () => {
  check('suite.invariants.nested-over-own-parent', async () => {
    // A mock device's nesting parent, then a nested HWPT over it with selftest data: the parent passes.
    const nested = (hex: string, profile: '6.12' | '7.3') =>
      program(`nested-over-own-parent-${profile}-${hex.length / 2}`, [
        ...context,
        mockDomain,
        { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_HWPT_ALLOC', fields: { dev_id: '$idev', pt_id: '$ioas', flags: 'IOMMU_HWPT_ALLOC_NEST_PARENT' }, bind: { parent: 'out.out_hwpt_id' }, expect: { ok: true } },
        { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_HWPT_ALLOC', fields: { dev_id: '$idev', pt_id: '$parent', data_type: 'IOMMU_HWPT_DATA_SELFTEST', data_len: hex.length / 2, data_uptr: { data: { hex } } } },
      ], { commands: ['IOMMU_TEST_CMD', 'IOMMU_HWPT_ALLOC'], testOps: ['IOMMU_TEST_OP_MOCK_DOMAIN'] }, [profile]);
    // The profile's whole struct iommu_hwpt_selftest: 8 bytes in 7.3, 4 in 6.12.
    for (const [profile, hex] of [['7.3', '0000000000000000'], ['6.12', '00000000']] as const) {
      const r = await judgeOn(nested(hex, profile), 'hwpt-alloc-nest-parent-not-recorded', profile);
      expect(r.broken, r.text).toContain('invariants.abi-hygiene');
      expect(r.text).toMatch(/a nesting parent allocated for the mock unit, failed with EINVAL/);
      expect(r.reference, r.text).toEqual([]);
    }
    // 8 bytes in 6.12 are longer than its struct: the driver's copy refuses them with EINVAL (the
    // 6.12 kernel lane's answer), so the rule does not judge them.
    const longer = await judgeOn(nested('0000000000000000', '6.12'), 'hwpt-alloc-nest-parent-not-recorded', '6.12');
    expect(longer.broken, longer.text).not.toContain('invariants.abi-hygiene');
  });

  check('suite.invariants.pin-starts-on-a-page', async () => {
    // A pin from the second byte of a mapped page: refused, a pin hands out whole pages.
    const p = program('pin-off-page', [
      ...open,
      { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_TEST_CMD', fields: { op: 'IOMMU_TEST_OP_CREATE_ACCESS', id: '$ioas', create_access: { flags: 'MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES' } }, bind: { access: 'out.create_access.out_access_fd' } },
      { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_IOAS_MAP', fields: { ioas_id: '$ioas', flags: 'IOMMU_IOAS_MAP_FIXED_IOVA|IOMMU_IOAS_MAP_WRITEABLE|IOMMU_IOAS_MAP_READABLE', user_va: '$buf.va', length: '16384', iova: '0x1000000' } },
      { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_TEST_CMD', fields: { op: 'IOMMU_TEST_OP_ACCESS_PAGES', id: '$access', access_pages: { iova: '0x1000001', length: '4095', uptr: { $: 'buf', field: 'va', add: 1 } } }, expect: { errno: ['EINVAL'] } },
    ], { testOps: ['IOMMU_TEST_OP_CREATE_ACCESS', 'IOMMU_TEST_OP_ACCESS_PAGES'] });
    const r = await judge(p, 'conformance/mutants/unseen/access-pin-start-alignment-unchecked.ts');
    expect(r.broken, r.text).toContain('invariants.abi-hygiene');
    expect(r.text).toMatch(/IOMMU_TEST_OP_ACCESS_PAGES of 0x1000001\.\.0x1000fff succeeded, but its first byte is at offset 0x1 in its page/);
    expect(r.reference, r.text).toEqual([]);
  });

  check('suite.invariants.unmap-u64-max', async () => {
    // length U64_MAX from an IOVA other than 0 is no unmap-all: refused, the area below stays.
    const p = program('unmap-u64-max', [
      ...open,
      { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_IOAS_MAP', fields: { ioas_id: '$ioas', flags: 'IOMMU_IOAS_MAP_FIXED_IOVA|IOMMU_IOAS_MAP_WRITEABLE|IOMMU_IOAS_MAP_READABLE', user_va: '$buf.va', length: '4096', iova: '0x1000000' } },
      { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_IOAS_UNMAP', fields: { ioas_id: '$ioas', iova: '0x2000000', length: '0xffffffffffffffff' }, expect: { errno: ['EOVERFLOW'] } },
    ], { commands: ['IOMMU_IOAS_MAP', 'IOMMU_IOAS_UNMAP'] });
    const r = await judge(p, 'conformance/mutants/unseen/unmap-all-ignores-iova.ts');
    expect(r.broken, r.text).toContain('invariants.abi-hygiene');
    expect(r.text).toMatch(/IOMMU_IOAS_UNMAP of iova 0x2000000, length 0xffffffffffffffff succeeded/);
    expect(r.reference, r.text).toEqual([]);
  });

  check('suite.invariants.map-length-checks', async () => {
    // A user range that ends exactly at the top of the address space wraps to 0: EOVERFLOW.
    const p = program('map-ends-at-top', [
      ...context,
      { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_IOAS_MAP', fields: { ioas_id: '$ioas', flags: 'IOMMU_IOAS_MAP_WRITEABLE|IOMMU_IOAS_MAP_READABLE', user_va: '0xffffffffffffc000', length: '0x4000', iova: '0' }, expect: { errno: ['EOVERFLOW'] } },
    ], { commands: ['IOMMU_IOAS_MAP'] });
    for (const profile of ['6.12', '7.3'] as const) {
      const r = await judgeOn(p, 'alloc-pages-end-wrap-off-by-one', profile);
      expect(r.broken, r.text).toContain('invariants.abi-hygiene');
      expect(r.text).toMatch(/user_va \+ length that wraps \(EOVERFLOW\)/);
      expect(r.reference, r.text).toEqual([]);
    }
  });
});

describe('answers on rarely reached paths (red-team round 40, type1)', () => {
  check('suite.invariants.unmap-dma-size-on-failure', async () => {
    // Type1 v2: a range that takes one mapping whole and ends inside the next fails, reporting the first.
    const p = program('unmap-dma-partial', [
      ...open,
      { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_VFIO_IOAS', fields: { ioas_id: '$ioas', op: 'IOMMU_VFIO_IOAS_SET' } },
      { op: 'ioctl', fd: '$fd', cmd: 'VFIO_SET_IOMMU', arg: { kind: 'int', value: 'VFIO_TYPE1v2_IOMMU' } },
      { op: 'ioctl', fd: '$fd', cmd: 'VFIO_IOMMU_MAP_DMA', fields: { argsz: 32, flags: 'VFIO_DMA_MAP_FLAG_READ|VFIO_DMA_MAP_FLAG_WRITE', vaddr: '$buf.va', iova: '0x100000', size: '8192' } },
      { op: 'ioctl', fd: '$fd', cmd: 'VFIO_IOMMU_MAP_DMA', fields: { argsz: 32, flags: 'VFIO_DMA_MAP_FLAG_READ|VFIO_DMA_MAP_FLAG_WRITE', vaddr: { $: 'buf', field: 'va', add: 8192 }, iova: '0x102000', size: '8192' } },
      { op: 'ioctl', fd: '$fd', cmd: 'VFIO_IOMMU_UNMAP_DMA', fields: { argsz: 24, flags: 0, iova: '0x100000', size: '12288' }, expect: { errno: ['ENOENT'] } },
    ], { commands: ['IOMMU_VFIO_IOAS', 'VFIO_SET_IOMMU', 'VFIO_IOMMU_MAP_DMA', 'VFIO_IOMMU_UNMAP_DMA'] });
    const r = await judge(p, 'conformance/mutants/unseen/compat-unmap-size-kept-on-error.ts');
    expect(r.broken, r.text).toContain('invariants.accounting');
    expect(r.text).toMatch(/VFIO_IOMMU_UNMAP_DMA of 0x100000\.\.0x102fff failed with ENOENT and reports size 12288, but the areas wholly inside the range before the first it cuts hold 8192/);
    expect(r.reference, r.text).toEqual([]);
  });
});

describe('answers on rarely reached paths (red-team round 40, groups)', () => {
  check('suite.invariants.fixed-map-succeeds', async () => {
    // A group's replace onto an IOAS that maps its later device's own region fails; the earlier
    // device's regions (the MSI window) must not stay reserved there.
    const p = program('group-replace-unresv', [
      ...open,
      { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_IOAS_ALLOC', fields: {}, bind: { ioas2: 'out.out_ioas_id' } },
      { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_IOAS_MAP', fields: { ioas_id: '$ioas2', flags: 'IOMMU_IOAS_MAP_FIXED_IOVA|IOMMU_IOAS_MAP_WRITEABLE|IOMMU_IOAS_MAP_READABLE', user_va: '$buf.va', length: '4096', iova: '0x200000' } },
      { op: 'device_create', spec: { iommu: 'vtd0' }, bind: { a: 'device', grp: 'group' } },
      { op: 'device_create', spec: { iommu: 'vtd0', group: '$grp', reservedRegions: [{ start: '0x200000', last: '0x200fff' }] }, bind: { b: 'device' } },
      { op: 'open_device', device: '$a', bind: { a_fd: 'fd' } },
      { op: 'open_device', device: '$b', bind: { b_fd: 'fd' } },
      { op: 'ioctl', fd: '$a_fd', cmd: 'VFIO_DEVICE_BIND_IOMMUFD', fields: { iommufd: '$fd' } },
      { op: 'ioctl', fd: '$b_fd', cmd: 'VFIO_DEVICE_BIND_IOMMUFD', fields: { iommufd: '$fd' } },
      { op: 'ioctl', fd: '$a_fd', cmd: 'VFIO_DEVICE_ATTACH_IOMMUFD_PT', fields: { pt_id: '$ioas' }, bind: { hwpt: 'out.pt_id' } },
      { op: 'ioctl', fd: '$b_fd', cmd: 'VFIO_DEVICE_ATTACH_IOMMUFD_PT', fields: { pt_id: '$hwpt' } },
      { op: 'ioctl', fd: '$a_fd', cmd: 'VFIO_DEVICE_ATTACH_IOMMUFD_PT', fields: { pt_id: '$ioas2' }, expect: { errno: ['EADDRINUSE'] } },
      { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_IOAS_MAP', fields: { ioas_id: '$ioas2', flags: 'IOMMU_IOAS_MAP_FIXED_IOVA|IOMMU_IOAS_MAP_WRITEABLE|IOMMU_IOAS_MAP_READABLE', user_va: '$buf.va', length: '4096', iova: '0xfee00000' }, expect: { ok: true } },
    ], { ops: ['device_create', 'open_device'], commands: ['VFIO_DEVICE_BIND_IOMMUFD', 'VFIO_DEVICE_ATTACH_IOMMUFD_PT'] });
    const r = await judgeOn(p, 'group-replace-resv-no-unwind', '7.3');
    expect(r.broken, r.text).toContain('invariants.abi-hygiene');
    expect(r.text).toMatch(/IOMMU_IOAS_MAP of 0xfee00000\.\.0xfee00fff \(FIXED_IOVA\) into IOAS \d+ failed with EINVAL/);
    expect(r.reference, r.text).toEqual([]);
  });
});

describe('answers on rarely reached paths (red-team round 41)', () => {
  check('suite.invariants.nested-without-driver-op', async () => {
    // 7.3: AMD has no domain_alloc_nested; the nested allocation is EOPNOTSUPP before its parent is judged.
    const p = program('nested-amd', [
      ...context,
      ...bindTo('amd0'),
      { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_HWPT_ALLOC', fields: { dev_id: '$d_id', pt_id: '$ioas' }, bind: { plain: 'out.out_hwpt_id' }, expect: { ok: true } },
      { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_HWPT_ALLOC', fields: { dev_id: '$d_id', pt_id: '$plain', data_type: 'IOMMU_HWPT_DATA_AMD_GUEST', data_len: 32, data_uptr: { data: { hex: '00'.repeat(32) } } } },
    ], { ops: ['device_create', 'open_device'], commands: ['VFIO_DEVICE_BIND_IOMMUFD', 'IOMMU_HWPT_ALLOC'] }, ['7.3']);
    const r = await judgeOn(p, 'nested-alloc-parent-before-driver-op', '7.3');
    expect(r.broken, r.text).toContain('invariants.abi-hygiene');
    expect(r.text).toMatch(/the amd driver has no domain_alloc_nested/);
    expect(r.reference, r.text).toEqual([]);
  });

  check('suite.invariants.test-op-lookups', async () => {
    // MD_CHECK_IOTLB on a paging HWPT (ENOENT), MD_CHECK_MAP with a wrapping uptr (EINVAL),
    // ACCESS_PAGES through an access that does not pin (EOPNOTSUPP).
    const steps = (what: 'iotlb' | 'wrap' | 'pages'): Step[] => [
      ...open,
      mockDomain,
      { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_IOAS_MAP', fields: { ioas_id: '$ioas', flags: 'IOMMU_IOAS_MAP_FIXED_IOVA|IOMMU_IOAS_MAP_WRITEABLE|IOMMU_IOAS_MAP_READABLE', user_va: '$buf.va', length: '8192', iova: '0x200000' }, expect: { ok: true } },
      ...(what === 'iotlb'
        ? [{ op: 'ioctl', fd: '$fd', cmd: 'IOMMU_TEST_CMD', fields: { op: 'IOMMU_TEST_OP_MD_CHECK_IOTLB', id: '$hwpt', check_iotlb: { id: 0, iotlb: 0 } } } as Step]
        : what === 'wrap'
          ? [{ op: 'ioctl', fd: '$fd', cmd: 'IOMMU_TEST_CMD', fields: { op: 'IOMMU_TEST_OP_MD_CHECK_MAP', id: '$hwpt', check_map: { iova: '0x200000', length: '8192', uptr: '0xfffffffffffff000' } } } as Step]
          : [
              { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_TEST_CMD', fields: { op: 'IOMMU_TEST_OP_CREATE_ACCESS', id: '$ioas', create_access: { flags: 0 } }, bind: { acc: 'out.create_access.out_access_fd' }, expect: { ok: true } } as Step,
              { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_TEST_CMD', fields: { op: 'IOMMU_TEST_OP_ACCESS_PAGES', id: '$acc', access_pages: { flags: 0, iova: '0x200000', length: '4096', uptr: '$buf.va' } } } as Step,
            ]),
    ];
    const needs = { commands: ['IOMMU_TEST_CMD', 'IOMMU_IOAS_MAP'], testOps: ['IOMMU_TEST_OP_MOCK_DOMAIN'] };
    for (const [what, fault, errno] of [['iotlb', 'md-check-iotlb-paging-lookup', 'ENOENT'], ['wrap', 'md-check-pa-overflow-unchecked', 'EINVAL'], ['pages', 'access-pages-skips-pin-ops-check', 'EOPNOTSUPP']] as const) {
      for (const profile of ['6.12', '7.3'] as const) {
        const r = await judgeOn(program(`test-op-${what}-${profile}`, steps(what), needs, [profile]), fault, profile);
        expect(r.broken, r.text).toContain('invariants.abi-hygiene');
        expect(r.text).toMatch(new RegExp(`\\(${errno}, TEST_CMD.OP_LOOKUPS\\)`));
        expect(r.reference, r.text).toEqual([]);
      }
    }
  });
  check('suite.invariants.type1-cut-at-area-start', async () => {
    // A type1 v1 unmap whose last byte is the next mapping's first: no split there, ENOENT once
    // the unmap meets that mapping (the one before it unmapped).
    const p = program('type1-cut-at-start', [{"op": "mem_alloc", "length": 65536, "hugeAligned": true, "bind": {"buf": "."}}, {"op": "open", "node": "iommu", "bind": {"fd": "fd"}, "expect": {"ok": true}}, {"op": "ioctl", "fd": "$fd", "cmd": "IOMMU_IOAS_ALLOC", "fields": {}, "bind": {"ioas": "out.out_ioas_id"}, "expect": {"ok": true}}, {"op": "ioctl", "fd": "$fd", "cmd": "IOMMU_TEST_CMD", "fields": {"op": "IOMMU_TEST_OP_MOCK_DOMAIN", "id": "$ioas", "mock_domain": {}}, "bind": {"hwpt": "out.mock_domain.out_hwpt_id"}, "expect": {"ok": true}}, {"op": "ioctl", "fd": "$fd", "cmd": "IOMMU_VFIO_IOAS", "fields": {"op": "IOMMU_VFIO_IOAS_SET", "ioas_id": "$ioas"}, "expect": {"ok": true}}, {"op": "ioctl", "fd": "$fd", "cmd": "VFIO_SET_IOMMU", "arg": {"kind": "int", "value": "VFIO_TYPE1_IOMMU"}, "expect": {"ok": true}}, {"op": "ioctl", "fd": "$fd", "cmd": "VFIO_IOMMU_MAP_DMA", "fields": {"flags": "VFIO_DMA_MAP_FLAG_READ|VFIO_DMA_MAP_FLAG_WRITE", "vaddr": "$buf.va", "size": "4096", "iova": "0x1000000"}, "expect": {"ok": true}}, {"op": "ioctl", "fd": "$fd", "cmd": "VFIO_IOMMU_MAP_DMA", "fields": {"flags": "VFIO_DMA_MAP_FLAG_READ|VFIO_DMA_MAP_FLAG_WRITE", "vaddr": {"$": "buf", "field": "va", "add": 8192}, "size": "8192", "iova": "0x1001000"}, "expect": {"ok": true}}, {"op": "ioctl", "fd": "$fd", "cmd": "VFIO_IOMMU_UNMAP_DMA", "fields": {"size": "4097", "iova": "0x1000000"}}] as Step[], { commands: ['IOMMU_VFIO_IOAS', 'VFIO_SET_IOMMU', 'VFIO_IOMMU_MAP_DMA', 'VFIO_IOMMU_UNMAP_DMA', 'IOMMU_TEST_CMD'], testOps: ['IOMMU_TEST_OP_MOCK_DOMAIN'] });
    for (const profile of ['6.12', '7.3'] as const) {
      const r = await judgeOn(p, 'split-at-area-start-not-skipped', profile);
      expect(r.broken, r.text).toContain('invariants.abi-hygiene');
      expect(r.text).toMatch(/a cut point is an area's first byte, where iopt_area_split leaves the area whole/);
      expect(r.reference, r.text).toEqual([]);
    }
  });
});

describe('answers to well-formed requests (red-team round 42)', () => {
  check('suite.invariants.allow-iovas-well-formed-taken', async () => {
    // Two disjoint ranges, each read at its own place: taken. A fault that reads the first range
    // twice finds it overlapping itself (EINVAL).
    const ranges = '0000100000000000' + 'ffff1f0000000000' + '0000400000000000' + 'ffff4f0000000000';
    const p = program('allow-two', [
      ...context,
      { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_IOAS_ALLOW_IOVAS', fields: { ioas_id: '$ioas', num_iovas: 2, allowed_iovas: { data: { hex: ranges } } } },
    ], { commands: ['IOMMU_IOAS_ALLOW_IOVAS'] });
    for (const profile of ['6.12', '7.3'] as const) {
      const r = await judgeOn(p, 'load-iovas-rereads-first-range', profile);
      expect(r.broken, r.text).toContain('invariants.abi-hygiene');
      expect(r.text).toMatch(/failed with EINVAL, but its 2 range\(s\) .* meet no other.*\(IOAS_ALLOW_IOVAS.WELL_FORMED\)/);
      expect(r.reference, r.text).toEqual([]);
    }
  });

  check('suite.invariants.mock-replace-lookup', async () => {
    // MOCK_DOMAIN_REPLACE by the device's own id, or by an IOAS's: no selftest object (ENOENT).
    for (const id of ['$idev', '$ioas']) {
      const p = program(`replace-by-${id.slice(1)}`, [
        ...context,
        { ...mockDomain, bind: { idev: 'out.mock_domain.out_idev_id', st: 'out.mock_domain.out_stdev_id' } },
        { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_TEST_CMD', fields: { op: 'IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE', id, mock_domain_replace: { pt_id: '$ioas' } } },
      ], { commands: ['IOMMU_TEST_CMD'], testOps: ['IOMMU_TEST_OP_MOCK_DOMAIN', 'IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE'] });
      for (const profile of ['6.12', '7.3'] as const) {
        const r = await judgeOn(p, 'mock-replace-lookup-any-type', profile);
        expect(r.broken, r.text).toContain('invariants.abi-hygiene');
        expect(r.text).toMatch(/looks it up as a selftest device .*\(ENOENT, TEST_CMD.OP_LOOKUPS\)/);
        expect(r.reference, r.text).toEqual([]);
      }
    }
  });
});

describe('answers the kernel gives first or always (red-team round 43)', () => {
  check('suite.invariants.set-iommu-type-first', async () => {
    // An unknown container type on a context with no compat IOAS: EINVAL, before the IOAS lookup (ENODEV).
    const p = program('set-iommu-unknown-type', [
      { op: 'open', node: 'iommu', bind: { fd: 'fd' } },
      { op: 'ioctl', fd: '$fd', cmd: 'VFIO_SET_IOMMU', arg: { kind: 'int', value: '7' } },
    ], { commands: ['VFIO_SET_IOMMU'] });
    for (const profile of ['6.12', '7.3'] as const) {
      const r = await judgeOn(p, 'compat-set-iommu-ioas-before-type', profile);
      expect(r.broken, r.text).toContain('invariants.abi-hygiene');
      expect(r.text).toMatch(/VFIO_SET_IOMMU of type 7 failed with ENODEV: .*\(VFIO_COMPAT.SET_IOMMU\)/);
      expect(r.reference, r.text).toEqual([]);
    }
  });

  check('suite.invariants.mock-hw-info', async () => {
    // The mock's struct iommu_test_hw_info: flags 0, test_reg IOMMU_HW_INFO_SELFTEST_REGVAL.
    const p = program('mock-hw-info', [
      ...context,
      { ...mockDomain, bind: { idev: 'out.mock_domain.out_idev_id' } },
      { op: 'ioctl', fd: '$fd', cmd: 'IOMMU_GET_HW_INFO', fields: { dev_id: '$idev', data_len: 8, data_uptr: { room: 8 } } },
    ], { commands: ['IOMMU_TEST_CMD', 'IOMMU_GET_HW_INFO'], testOps: ['IOMMU_TEST_OP_MOCK_DOMAIN'] });
    for (const profile of ['6.12', '7.3'] as const) {
      const r = await judgeOn(p, 'mock-hw-info-kmalloc-flags', profile);
      expect(r.broken, r.text).toContain('invariants.abi-hygiene');
      expect(r.text).toMatch(/struct iommu_test_hw_info \{ flags 0x6b6b6b6b, test_reg 0xdeadbeef \}/);
      expect(r.reference, r.text).toEqual([]);
    }
  });

  check('suite.invariants.group-sibling-joins', async () => {
    // Two devices of one group bound, the second's file closed and opened again and bound, the first
    // attached by IOAS id: the second, attached by the same IOAS id, joins the group's HWPT.
    const p = program('group-sibling-joins', [
      ...context,
      { op: 'device_create', spec: { iommu: 'vtd0' }, bind: { a: 'device', grp: 'group' } },
      { op: 'device_create', spec: { iommu: 'vtd0', group: '$grp' }, bind: { b: 'device' } },
      { op: 'open_device', device: '$a', bind: { afd: 'fd' } },
      { op: 'open_device', device: '$b', bind: { bfd: 'fd' } },
      { op: 'ioctl', fd: '$afd', cmd: 'VFIO_DEVICE_BIND_IOMMUFD', fields: { iommufd: '$fd' } },
      { op: 'ioctl', fd: '$bfd', cmd: 'VFIO_DEVICE_BIND_IOMMUFD', fields: { iommufd: '$fd' } },
      { op: 'close', fd: '$bfd' },
      { op: 'open_device', device: '$b', bind: { bfd: 'fd' } },
      { op: 'ioctl', fd: '$bfd', cmd: 'VFIO_DEVICE_BIND_IOMMUFD', fields: { iommufd: '$fd' } },
      { op: 'ioctl', fd: '$afd', cmd: 'VFIO_DEVICE_ATTACH_IOMMUFD_PT', fields: { pt_id: '$ioas' } },
      { op: 'ioctl', fd: '$bfd', cmd: 'VFIO_DEVICE_ATTACH_IOMMUFD_PT', fields: { pt_id: '$ioas' } },
    ] as Step[], { ops: ['device_create', 'open_device'], commands: ['VFIO_DEVICE_BIND_IOMMUFD', 'VFIO_DEVICE_ATTACH_IOMMUFD_PT'] });
    for (const profile of ['6.12', '7.3'] as const) {
      const r = await judgeOn(p, 'get-group-try-get-no-ref', profile);
      expect(r.broken, r.text).toContain('invariants.group-isolation');
      expect(r.text).toMatch(/the rest of its group sits on HWPT \d+, an automatic HWPT of that IOAS.*\(HWPT.AUTO_DOMAIN_REUSE\)/);
      expect(r.reference, r.text).toEqual([]);
    }
  });
});
