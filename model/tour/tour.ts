/**
 * The transition tour: for every machine edge (source, event, guard, target),
 * a shortest event sequence that takes it, derived with xstate/graph — the
 * system machine's logic is traversed per scenario (getShortestPaths) over
 * states bounded to two objects of each kind, with an explicit limit; a path to an edge is the shortest path to a state where
 * some offered event takes the edge, plus that event.
 */
import { getShortestPaths, type TraversalOptions } from 'xstate/graph';
import type { Profile } from '../../spec/uapi/profiles.ts';
import { enumValue } from '../../spec/uapi/index.ts';
import { systemLogic, type SystemSnapshot } from '../system/machine.ts';
import type { System } from '../system/state.ts';
import type { SysEvent } from '../system/tx.ts';
import type { SingleRequest } from '../../spec/contract/types.ts';
import { eventTypeOf } from '../system/fields.ts';
import { U } from '../system/uapi.ts';
import { A, alphabet, io, k, LEN, mapFixed, nestedAlloc, testOp, USER_VA, type ScenarioSpec } from './alphabet.ts';

const VTD = { name: 'vtd0', dirty: true, coherent: true };
const NONCOHERENT = { name: 'vtd1', dirty: false, coherent: false };
const VTD2 = { name: 'vtd2', dirty: true, coherent: true };
/** vtd0 with its page-table format known: its domains are foreign to the mock driver's devices (ATTACH.FOREIGN_DOMAIN). */
const VTD_FORMAT = { ...VTD, format: 'vtd-ss' };
const BOTH: readonly Profile[] = ['6.12', '7.3'];

// Prefixes: a fresh system hands out fd 3 and ids from 1 (lowest free).
/** The prefixes' IOAS (the first object) and the mock device's stdev id (the second, MOCK_DOMAIN's). */
const IOAS_1 = 1;
const STDEV_2 = 2;
/** foreign-pasid: the mock device's stdev (after IOAS 1, DEVICE 2, the VT-d HWPT 3). */
const FOREIGN_STDEV_4 = 4;
const OPEN: SingleRequest = { op: 'open', node: 'iommu' };
const IOAS = io(3, 'IOMMU_IOAS_ALLOC');
const MOCK = (p: Profile): SingleRequest => testOp(p, 3, 'IOMMU_TEST_OP_MOCK_DOMAIN', { id: IOAS_1, mock_domain: {} }); // stdev 2, idev 3, hwpt 4
const NEST_PARENT = (p: Profile): SingleRequest => io(3, 'IOMMU_HWPT_ALLOC', { dev_id: 3, pt_id: 1, flags: k(p, 'IOMMU_HWPT_ALLOC_NEST_PARENT') }); // 5
const VIOMMU = (p: Profile): SingleRequest => io(3, 'IOMMU_VIOMMU_ALLOC', { dev_id: 3, hwpt_id: 5, type: k(p, 'IOMMU_VIOMMU_TYPE_SELFTEST') }); // 6
const COMPAT_SET = (p: Profile, ioas = 1): SingleRequest => io(3, 'IOMMU_VFIO_IOAS', { op: k(p, 'IOMMU_VFIO_IOAS_SET'), ioas_id: ioas });
const MAP_DMA = (p: Profile): SingleRequest => io(3, 'VFIO_IOMMU_MAP_DMA', { flags: k(p, 'VFIO_DMA_MAP_FLAG_READ') | k(p, 'VFIO_DMA_MAP_FLAG_WRITE'), vaddr: USER_VA, iova: A, size: LEN });
/** Environment devices: create (handle n), open (the next fd), bind to the iommufd at fd 3. */
const DEV = (iommu: string, group?: number, pasidWidth?: number): SingleRequest => ({ op: 'device_create', spec: { iommu, ...(group !== undefined ? { group } : {}), ...(pasidWidth ? { pasidWidth } : {}) } });
const OPEN_DEV = (h: number): SingleRequest => ({ op: 'open_device', device: h });
const BIND = (dfd: number, ictx = 3): SingleRequest => io(dfd, 'VFIO_DEVICE_BIND_IOMMUFD', { iommufd: ictx });

/** The scenarios: small alphabets over bounded state spaces, each after a prefix that sets its stage. */
export const SCENARIOS: readonly ScenarioSpec[] = [
  {
    name: 'ioas',
    profiles: BOTH,
    groups: ['ioas-alloc', 'ioas-map', 'ioas-unmap', 'ioas-lookups', 'ioas-option', 'change-process', 'copy', 'destroy', 'release'],
    prefix: () => [OPEN],
    depth: 6,
    max: { ioas: 2 },
  },
  { name: 'closed-fd', profiles: BOTH, groups: ['closed', 'release'], prefix: () => [OPEN], depth: 2 },
  {
    name: 'mock-devices',
    profiles: BOTH,
    groups: ['ioas-alloc', 'mock-create', 'mock-replace', 'destroy', 'release'],
    prefix: () => [OPEN, IOAS],
    depth: 4,
    max: { ioas: 2, device: 2 },
    mockFlags: 'MOCK_FLAGS_DEVICE_NO_DIRTY',
  },
  {
    name: 'paging-hwpts',
    profiles: BOTH,
    groups: ['hwpt-alloc', 'hwpt-errors', 'dirty', 'mock-create', 'mock-replace', 'ioas-map', 'ioas-option', 'destroy', 'release'],
    // 6.12 reads dirty bits only over areas (__iommu_read_and_clear_dirty's
    // contiguity check reaches the caller there): the IOAS maps the range the
    // dirty-bitmap step reads.
    prefix: (p) => (p === '6.12' ? [OPEN, IOAS, mapFixed(p, 3, IOAS_1, A), MOCK(p)] : [OPEN, IOAS, MOCK(p)]),
    depth: 3,
    max: { ioas: 1, device: 2, manual: 1 },
    hwptFlags: [[], ['IOMMU_HWPT_ALLOC_NEST_PARENT'], ['IOMMU_HWPT_ALLOC_DIRTY_TRACKING']],
    mockFlags: 'MOCK_FLAGS_DEVICE_NO_DIRTY',
  },
  {
    name: 'nesting',
    profiles: BOTH,
    groups: ['nested-alloc', 'invalidate', 'mock-create', 'mock-replace', 'destroy', 'release'],
    prefix: (p) => [OPEN, IOAS, MOCK(p), NEST_PARENT(p)],
    depth: 5,
    max: { device: 1, nested: 1 },
  },
  {
    name: 'access',
    profiles: BOTH,
    groups: ['access', 'ioas-alloc', 'ioas-map', 'ioas-unmap', 'destroy', 'release'],
    prefix: (p) => [OPEN, IOAS, mapFixed(p, 3, 1, A)],
    depth: 5,
    max: { ioas: 2, access: 1 },
  },
  {
    name: 'faults',
    profiles: BOTH,
    groups: ['fault', 'mock-replace', 'destroy', 'release'],
    prefix: (p) => [OPEN, IOAS, MOCK(p), NEST_PARENT(p)],
    depth: 6,
    max: { fault: 1, nested: 1 },
  },
  {
    name: 'viommu',
    profiles: ['7.3'],
    groups: ['viommu', 'vdevice', 'nested-alloc', 'invalidate', 'mock-create', 'mock-replace', 'destroy', 'release'],
    prefix: (p) => [OPEN, IOAS, MOCK(p), NEST_PARENT(p)],
    depth: 4,
    max: { viommu: 1, vdevice: 2, device: 2, nested: 1 },
  },
  {
    name: 'queues',
    profiles: ['7.3'],
    groups: ['hw-queue', 'veventq', 'vdevice', 'nested-alloc', 'mock-replace', 'ioas-unmap', 'destroy', 'release'],
    prefix: (p) => [OPEN, IOAS, mapFixed(p, 3, 1, A), MOCK(p), NEST_PARENT(p), VIOMMU(p)],
    depth: 3,
    max: { hw_queue: 2, veventq: 1, vdevice: 1, nested: 1 },
  },
  {
    name: 'pasid',
    profiles: ['7.3'],
    groups: ['pasid', 'hwpt-alloc', 'nested-alloc', 'mock-replace', 'destroy', 'release'],
    prefix: (p) => [OPEN, IOAS, testOp(p, 3, 'IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS', { id: IOAS_1, mock_domain_flags: { dev_flags: k(p, 'MOCK_FLAGS_DEVICE_PASID') } }), NEST_PARENT(p)],
    depth: 4,
    max: { manual: 2, nested: 1 },
    hwptFlags: [['IOMMU_HWPT_ALLOC_PASID']],
    nestedFlags: ['IOMMU_HWPT_ALLOC_PASID'],
    secondPasid: true,
  },
  {
    name: 'vfio-devices',
    profiles: BOTH,
    groups: ['vfio', 'destroy', 'release'],
    prefix: () => [OPEN, IOAS],
    depth: 6,
    iommus: [VTD],
    max: { env: 2 },
  },
  {
    name: 'kvm',
    profiles: BOTH,
    groups: ['kvm', 'vfio'],
    prefix: () => [OPEN, { op: 'device_create', spec: { iommu: 'vtd0' } }, { op: 'device_create', spec: { iommu: 'vtd1' } }, { op: 'open_device', device: 1 }, { op: 'open_device', device: 2 }],
    depth: 5,
    iommus: [VTD, NONCOHERENT],
    max: { env: 2 },
  },
  {
    name: 'viommu-attach',
    profiles: ['7.3'],
    groups: ['mock-create', 'mock-replace'],
    // ids: ioas 1, stdev 2, idev 3, auto 4, parent 5, vIOMMU 6, nested on the vIOMMU 7, nested on the parent 8
    prefix: (p) => [OPEN, IOAS, MOCK(p), NEST_PARENT(p), VIOMMU(p), nestedAlloc(p, 3, 3, 6, 0), nestedAlloc(p, 3, 3, 5, 0)],
    depth: 2,
    max: { device: 2 },
    mockFlags: 'MOCK_FLAGS_DEVICE_NO_DIRTY',
  },
  {
    name: 'pasid-faults',
    profiles: ['7.3'],
    groups: ['fault', 'pasid'],
    // ids: ioas 1, stdev 2, idev 3, (auto 4 freed by the replace), PASID-capable parent 5, fault 4 (fd 4), nested 6 delivering to it, attached at PASID 100
    prefix: (p) => [
      OPEN,
      IOAS,
      testOp(p, 3, 'IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS', { id: IOAS_1, mock_domain_flags: { dev_flags: k(p, 'MOCK_FLAGS_DEVICE_PASID') } }),
      io(3, 'IOMMU_HWPT_ALLOC', { dev_id: 3, pt_id: 1, flags: k(p, 'IOMMU_HWPT_ALLOC_NEST_PARENT') | k(p, 'IOMMU_HWPT_ALLOC_PASID') }),
      testOp(p, 3, 'IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE', { id: STDEV_2, mock_domain_replace: { pt_id: 5 } }),
      io(3, 'IOMMU_FAULT_QUEUE_ALLOC'),
      nestedAlloc(p, 3, 3, 5, k(p, 'IOMMU_HWPT_ALLOC_PASID') | k(p, 'IOMMU_HWPT_FAULT_ID_VALID'), { fault_id: 4 }),
      testOp(p, 3, 'IOMMU_TEST_OP_PASID_ATTACH', { id: STDEV_2, pasid_attach: { pasid: 100, pt_id: 6 } }),
    ],
    depth: 3,
    max: { nested: 1, fault: 1, manual: 1 },
  },
  {
    name: 'fault-answers',
    profiles: BOTH,
    groups: ['fault'],
    // ids: ioas 1, stdev 2, idev 3, (auto 4 freed by the replace), parent 5, fault 6 (fd 4), nested 7 delivering to it, the mock device’s RID on it
    prefix: (p) => [
      OPEN,
      IOAS,
      MOCK(p),
      NEST_PARENT(p),
      io(3, 'IOMMU_FAULT_QUEUE_ALLOC'),
      nestedAlloc(p, 3, 3, 5, k(p, 'IOMMU_HWPT_FAULT_ID_VALID'), { fault_id: 6 }),
      testOp(p, 3, 'IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE', { id: STDEV_2, mock_domain_replace: { pt_id: 7 } }),
    ],
    depth: 4,
    max: { nested: 1, fault: 1, manual: 1 },
  },
  {
    name: 'vevents',
    profiles: ['7.3'],
    groups: ['veventq', 'destroy'],
    // ids: ioas 1, stdev 2, idev 3, auto 4, parent 5, vIOMMU 6, vDEVICE 7, nested on the vIOMMU 8 (the mock device's RID on it), vEVENTQ 9
    prefix: (p) => [
      OPEN,
      IOAS,
      MOCK(p),
      NEST_PARENT(p),
      VIOMMU(p),
      io(3, 'IOMMU_VDEVICE_ALLOC', { viommu_id: 6, dev_id: 3, virt_id: 1n }),
      nestedAlloc(p, 3, 3, 6, 0),
      testOp(p, 3, 'IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE', { id: STDEV_2, mock_domain_replace: { pt_id: 8 } }),
      io(3, 'IOMMU_VEVENTQ_ALLOC', { viommu_id: 6, type: k(p, 'IOMMU_VEVENTQ_TYPE_SELFTEST'), veventq_depth: 2 }),
    ],
    depth: 3,
    max: { veventq: 1 },
  },
  {
    name: 'queue-compat',
    profiles: ['7.3'],
    groups: ['compat'],
    prefix: (p) => [
      OPEN,
      IOAS,
      mapFixed(p, 3, 1, A),
      MOCK(p),
      NEST_PARENT(p),
      VIOMMU(p),
      io(3, 'IOMMU_HW_QUEUE_ALLOC', { viommu_id: 6, type: k(p, 'IOMMU_HW_QUEUE_TYPE_SELFTEST'), index: 0, nesting_parent_iova: A, length: 0x1000n }),
      COMPAT_SET(p),
    ],
    depth: 1,
  },
  {
    name: 'compat-domains',
    profiles: BOTH,
    groups: ['compat', 'mock-create'],
    prefix: (p) => [OPEN, IOAS, COMPAT_SET(p)],
    depth: 3,
    max: { device: 1 },
  },
  {
    name: 'compat-access',
    profiles: BOTH,
    groups: ['compat', 'access'],
    prefix: (p) => [OPEN, IOAS, COMPAT_SET(p), MAP_DMA(p), testOp(p, 3, 'IOMMU_TEST_OP_CREATE_ACCESS', { id: IOAS_1, create_access: { flags: k(p, 'MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES') } })],
    depth: 2,
    max: { access: 1 },
  },
  {
    name: 'vfio-attach',
    profiles: BOTH,
    groups: ['vfio'],
    // two devices in their own groups, bound (DEVICE ids 3 and 4), two IOASes
    prefix: () => [OPEN, IOAS, IOAS, DEV('vtd0'), DEV('vtd0'), OPEN_DEV(1), OPEN_DEV(2), BIND(4), BIND(5)],
    depth: 3,
    iommus: [VTD],
    envDevices: [{ iommu: 'vtd0' }, { iommu: 'vtd0' }],
    max: { env: 2, manual: 1 },
  },
  {
    name: 'vfio-group',
    profiles: BOTH,
    groups: ['vfio'],
    // two devices of one group, bound
    prefix: () => [OPEN, IOAS, IOAS, DEV('vtd0'), DEV('vtd0', 1), OPEN_DEV(1), OPEN_DEV(2), BIND(4), BIND(5)],
    depth: 3,
    iommus: [VTD],
    max: { env: 2, manual: 1 },
  },
  {
    name: 'vfio-owner',
    profiles: BOTH,
    groups: ['vfio', 'closed'],
    // two iommufds (fds 3, 4), two devices of one group with their files (fds 5, 6), and a closed fd 7
    prefix: () => [OPEN, OPEN, DEV('vtd0'), DEV('vtd0', 1), OPEN_DEV(1), OPEN_DEV(2), OPEN, { op: 'close', fd: 7 }],
    depth: 3,
    iommus: [VTD],
    filesPerDevice: 2,
    max: { env: 2, manual: 0 },
  },
  {
    name: 'vfio-nesting',
    profiles: BOTH,
    groups: ['vfio', 'nested-alloc'],
    // devices behind two IOMMU instances, bound (DEVICE ids 2, 3); a nesting parent 4 allocated for the first
    prefix: (p) => [OPEN, IOAS, DEV('vtd0'), DEV('vtd2'), OPEN_DEV(1), OPEN_DEV(2), BIND(4), BIND(5), io(3, 'IOMMU_HWPT_ALLOC', { dev_id: 2, pt_id: 1, flags: k(p, 'IOMMU_HWPT_ALLOC_NEST_PARENT') })],
    depth: 3,
    iommus: [VTD, VTD2],
    envDevices: [{ iommu: 'vtd0' }, { iommu: 'vtd2' }],
    max: { env: 2, nested: 1, manual: 0 },
  },
  {
    name: 'vfio-viommu',
    profiles: ['7.3'],
    groups: ['vfio', 'vdevice', 'nested-alloc'],
    prefix: (p) => [
      OPEN,
      IOAS,
      DEV('vtd0'),
      DEV('vtd2'),
      OPEN_DEV(1),
      OPEN_DEV(2),
      BIND(4),
      BIND(5),
      io(3, 'IOMMU_HWPT_ALLOC', { dev_id: 2, pt_id: 1, flags: k(p, 'IOMMU_HWPT_ALLOC_NEST_PARENT') }),
      io(3, 'IOMMU_VIOMMU_ALLOC', { dev_id: 2, hwpt_id: 4, type: k(p, 'IOMMU_VIOMMU_TYPE_SELFTEST') }),
    ],
    depth: 3,
    iommus: [VTD, VTD2],
    envDevices: [{ iommu: 'vtd0' }, { iommu: 'vtd2' }],
    max: { env: 2, nested: 1, vdevice: 1, manual: 0 },
  },
  {
    name: 'vfio-pasid',
    profiles: ['7.3'],
    groups: ['vfio', 'pasid'],
    prefix: () => [OPEN, IOAS, DEV('vtd0', undefined, 20), OPEN_DEV(1)],
    depth: 5,
    iommus: [VTD],
    envDevices: [{ iommu: 'vtd0', pasidWidth: 20 }],
    max: { env: 1, manual: 1 },
    hwptFlags: [['IOMMU_HWPT_ALLOC_PASID']],
    secondPasid: true,
  },
  {
    // A VT-d device's paging HWPT (3) and a mock device (stdev 4, idev 5, automatic HWPT 6) on IOAS 1: each offered the other driver's domain.
    name: 'foreign-domains',
    profiles: BOTH,
    groups: ['mock-create', 'mock-replace', 'vfio'],
    prefix: (p) => [OPEN, IOAS, DEV('vtd0'), OPEN_DEV(1), BIND(4), io(3, 'IOMMU_HWPT_ALLOC', { dev_id: 2, pt_id: 1 }), MOCK(p)],
    depth: 1,
    iommus: [VTD_FORMAT],
    envDevices: [{ iommu: 'vtd0' }],
    max: { env: 1, device: 2 },
    mockFlags: 'MOCK_FLAGS_DEVICE_NO_DIRTY',
  },
  {
    // PASIDs: a PASID-capable VT-d HWPT (3); the mock device's RID on a PASID-capable mock HWPT (7; its automatic one goes).
    name: 'foreign-pasid',
    profiles: ['7.3'],
    groups: ['pasid'],
    prefix: (p) => [
      OPEN,
      IOAS,
      DEV('vtd0', undefined, 20),
      OPEN_DEV(1),
      BIND(4),
      io(3, 'IOMMU_HWPT_ALLOC', { dev_id: 2, pt_id: 1, flags: k(p, 'IOMMU_HWPT_ALLOC_PASID') }),
      testOp(p, 3, 'IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS', { id: IOAS_1, mock_domain_flags: { dev_flags: k(p, 'MOCK_FLAGS_DEVICE_PASID') } }),
      io(3, 'IOMMU_HWPT_ALLOC', { dev_id: 5, pt_id: 1, flags: k(p, 'IOMMU_HWPT_ALLOC_PASID') }),
      testOp(p, 3, 'IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE', { id: FOREIGN_STDEV_4, mock_domain_replace: { pt_id: 7 } }),
    ],
    depth: 2,
    iommus: [VTD_FORMAT],
    max: { env: 1, device: 1 },
  },
  {
    name: 'compat',
    profiles: BOTH,
    groups: ['compat', 'ioas-alloc', 'destroy', 'release'],
    prefix: () => [OPEN, IOAS],
    depth: 5,
    max: { ioas: 1 },
  },
];

/**
 * Edges of the machines no tour path can take, and why. The completeness test
 * holds the tour to this list: every other edge is reached.
 */
export const UNREACHABLE: Readonly<Record<string, string>> = {
  'ioas|live|IOMMU_IOAS_MAP_FILE||live.mapped': 'needs a memfd: the adapter contract (v1) has no op that creates one, so a tour program cannot pass a file to IOMMU_IOAS_MAP_FILE',
  'ioas|live|IOMMU_IOAS_MAP_FILE|fixedRangeOverlaps|live': 'needs a memfd (see IOMMU_IOAS_MAP_FILE): the overlap check comes after the file lookup',
  'system|running|IOMMU_IOAS_MAP_FILE||running': 'needs a memfd (see IOMMU_IOAS_MAP_FILE); the tour reaches only its IOAS lookup refusal',
  'system|running|reset||running': 'reset is the runner’s own op between programs (FORMAT.md): a program cannot contain it; machines.reset in lifecycle.test.ts checks it',
  'fault|live.queue.pending|VFIO_DEVICE_ATTACH_IOMMUFD_PT||live.queue.empty':
    'page requests come only from IOMMU_TEST_OP_TRIGGER_IOPF, which takes a mock device; mock devices have no VFIO file, so no VFIO-attached device ever has a fault pending (a real-device lane, roadmap 10, would reach it)',
  'fault|live.queue.pending|VFIO_DEVICE_DETACH_IOMMUFD_PT||live.queue.empty': 'as for VFIO_DEVICE_ATTACH_IOMMUFD_PT: no VFIO-attached device can have a fault pending',
  'fault|live.queue.pending|close|isDetach|live.queue.empty': 'a device file closed with a fault pending: no VFIO-attached device can have one (faults come only from mock devices)',
};

/** bigints as text; an access's next item id is left out (it only numbers items, and would make the graph infinite). */
const big = (k: string, v: unknown): unknown => (typeof v === 'bigint' ? `${v}n` : k === 'nextId' ? undefined : v);
const memo = new WeakMap<object, string>();
/** JSON of a value, remembered per object: unchanged records are shared between states, so most are serialized once. */
function j(o: object | undefined): string {
  if (o === undefined) return '';
  let s = memo.get(o);
  if (s === undefined) {
    s = JSON.stringify(o, big);
    memo.set(o, s);
  }
  return s;
}

/** A canonical string of a system state (the traversal's node identity; the key counter is left out). */
export function serializeSystem(s: System): string {
  const parts: string[] = [];
  for (const fd in s.fds) parts.push(`f${fd}${j(s.fds[fd as unknown as number])}`);
  parts.push(`c${s.closed.join(',')}`);
  for (const k in s.ctxs) {
    const c = s.ctxs[k as unknown as number]!;
    parts.push(`x${k}:${c.fdOpen ? 1 : 0}:${c.compatIoas ?? ''}`);
    for (const id in c.objects) parts.push(`o${id}${j(c.objects[id as unknown as number])}`);
  }
  for (const k in s.devs) parts.push(`d${j(s.devs[k])}`);
  for (const k in s.groups) parts.push(`g${j(s.groups[k])}`);
  for (const k in s.files) parts.push(`l${j(s.files[k as unknown as number])}`);
  for (const k in s.vms) parts.push(`v${j(s.vms[k as unknown as number])}`);
  parts.push(`r${s.removed.join(',')}${s.failNth ? 'F' : ''}`);
  return parts.join('|');
}

function serializeEvent(e: SysEvent): string {
  return JSON.stringify(e.req, (_k, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v instanceof Uint8Array ? `bytes:${v.length}` : v));
}

export interface ExploreResult {
  readonly scenario: string;
  readonly profile: Profile;
  readonly states: number;
  readonly transitions: number;
  /** Edge key → the shortest event sequence that takes it. */
  readonly paths: Map<string, readonly SysEvent[]>;
}

/** Traversal limit: transitions explored per scenario (xstate/graph throws beyond it). */
export const TRAVERSAL_LIMIT = 400_000;

/** The scenario's prefix as system events. */
export function prefixEvents(spec: ScenarioSpec, profile: Profile): SysEvent[] {
  return (spec.prefix?.(profile) ?? []).map((req) => ({ type: eventTypeOf(profile, req), req }));
}

type Depthed = SystemSnapshot & { readonly depth: number };

export function explore(spec: ScenarioSpec, profile: Profile, limit = TRAVERSAL_LIMIT): ExploreResult {
  const base = systemLogic({ profile, ...(spec.iommus ? { iommus: spec.iommus } : {}) });
  const prefix = prefixEvents(spec, profile);
  let start = base.getInitialSnapshot(undefined as never, undefined as never) as unknown as SystemSnapshot;
  for (const e of prefix) {
    start = base.transition(start as never, e as never, undefined as never) as unknown as SystemSnapshot;
    if (start.decision?.kind !== 'accept') throw new Error(`${spec.name}: prefix step ${e.type} is not accepted (${JSON.stringify(start.decision)})`);
  }
  // The same logic, counting the events after the prefix: states at the depth bound are not expanded.
  const logic = {
    ...base,
    transition: (snap: Depthed, e: SysEvent) => ({ ...(base.transition(snap as never, e as never, undefined as never) as unknown as SystemSnapshot), depth: snap.depth + 1 }),
    getInitialSnapshot: () => ({ ...start, depth: 0 }),
  };
  const options: TraversalOptions<Depthed, SysEvent & { type: string }, unknown> = {
    events: (snap) => (snap.depth >= spec.depth ? [] : (alphabet(snap.context, spec) as (SysEvent & { type: string })[])),
    serializeState: (snap) => serializeSystem(snap.context),
    serializeEvent: serializeEvent as never,
    limit,
  };
  // xstate/graph: the shortest path to every reachable state.
  const shortest = getShortestPaths(logic as never, options as never) as unknown as { state: Depthed; steps: { event: SysEvent; state: Depthed }[] }[];
  // Then every offered event from every state: the edges it takes cost one more step. Per edge the
  // path kept needs the fewest features (commands, test ops, flags), then is the shortest: an
  // implementation lacking a feature still confirms every edge that does not need it.
  const paths = new Map<string, SysEvent[]>();
  const costs = new Map<string, PathCost>();
  const offer = (edge: string, events: SysEvent[], cost: PathCost): void => {
    const cur = costs.get(edge);
    if (!cur || cheaper(cost, cur)) {
      paths.set(edge, events);
      costs.set(edge, cost);
    }
  };
  let transitions = 0;
  for (let i = 0; i < prefix.length; i++) {
    const head = prefix.slice(0, i + 1);
    const cost = costOf(profile, head);
    for (const edge of edgesAlong(profile, spec, head)) offer(edge, head, cost);
  }
  for (const p of shortest) {
    const after = p.steps.map((x) => x.event).filter((e) => (e as { type: string }).type !== 'xstate.init');
    const head = [...prefix, ...after];
    // (xstate/graph keeps the last snapshot seen for a state, so its depth is the path's length, not the snapshot's.)
    if (after.length >= spec.depth) continue;
    const headFeatures = featuresOf(profile, head);
    for (const e of alphabet(p.state.context, spec)) {
      transitions++;
      const next = base.transition(p.state as never, e as never, undefined as never) as unknown as SystemSnapshot;
      if (next.taken.length === 0) continue;
      const f = new Set(headFeatures);
      for (const x of eventFeatures(profile, e)) f.add(x);
      const cost = { features: f, length: head.length + 1 };
      for (const edge of next.taken) {
        const cur = costs.get(edge);
        if (!cur || cheaper(cost, cur)) offer(edge, [...head, e], cost);
      }
    }
  }
  return { scenario: spec.name, profile, states: shortest.length, transitions, paths };
}

/** What a path needs of an implementation (its features) and its length. */
export interface PathCost {
  readonly features: ReadonlySet<string>;
  readonly length: number;
}

const HWPT_FLAG_FEATURES = ['IOMMU_HWPT_ALLOC_NEST_PARENT', 'IOMMU_HWPT_ALLOC_DIRTY_TRACKING', 'IOMMU_HWPT_FAULT_ID_VALID', 'IOMMU_HWPT_ALLOC_PASID'];

function cheaper(a: PathCost, b: PathCost): boolean {
  return a.features.size !== b.features.size ? a.features.size < b.features.size : a.length < b.length;
}

/**
 * The features one event needs: its command or test op (or op), and the
 * flags and data types that implementations may lack (nesting, PASID,
 * dirty tracking, faults, multi-device groups).
 */
export function eventFeatures(profile: Profile, e: SysEvent): string[] {
  const r = e.req;
  const out = [e.type];
  if (r.op === 'ioctl' && r.arg.kind === 'struct') {
    const fl = r.arg.fields as Record<string, unknown>;
    const flags = typeof fl['flags'] === 'number' ? fl['flags'] : 0;
    if (e.type === 'IOMMU_HWPT_ALLOC') {
      for (const name of HWPT_FLAG_FEATURES) {
        const bit = enumValue(profile, name);
        if (bit !== undefined && flags & bit) out.push(name);
      }
      if (fl['data_type']) out.push('nested');
    }
    if ((e.type === 'VFIO_DEVICE_ATTACH_IOMMUFD_PT' || e.type === 'VFIO_DEVICE_DETACH_IOMMUFD_PT') && flags & U.VFIO_DEVICE_ATTACH_PASID) out.push('pasid');
    if (e.type === 'IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS') out.push(`dev_flags:${String((fl['mock_domain_flags'] as Record<string, unknown> | undefined)?.['dev_flags'])}`);
  }
  if (r.op === 'device_create') {
    if (r.spec.pasidWidth) out.push('pasid');
    if (r.spec.group !== undefined) out.push('group');
  }
  return out;
}

export function featuresOf(profile: Profile, events: readonly SysEvent[]): Set<string> {
  const f = new Set<string>();
  for (const e of events) for (const x of eventFeatures(profile, e)) f.add(x);
  return f;
}

function costOf(profile: Profile, events: readonly SysEvent[]): PathCost {
  return { features: featuresOf(profile, events), length: events.length };
}

export interface TourPath {
  readonly profile: Profile;
  readonly scenario: string;
  readonly events: readonly SysEvent[];
  /** Edges the path is the shortest known path to (the ones it was chosen for). */
  readonly targets: readonly string[];
}

export interface Tour {
  readonly profile: Profile;
  readonly explored: readonly Omit<ExploreResult, 'paths'>[];
  /** Every edge the traversal reaches, with its shortest path. */
  readonly reached: ReadonlyMap<string, { readonly scenario: string; readonly events: readonly SysEvent[] }>;
  /** A set of paths that together take every reached edge. */
  readonly paths: readonly TourPath[];
}

const tours = new Map<Profile, Tour>();

/** The tour of a profile: every scenario explored, shortest path per edge, then a greedy cover by paths (computed once per process). */
export function buildTour(profile: Profile): Tour {
  let t = tours.get(profile);
  if (!t) {
    t = computeTour(profile);
    tours.set(profile, t);
  }
  return t;
}

/**
 * Why an edge is not on the tour of `profile`: reached only by the other
 * profile's tour, or one of the UNREACHABLE edges. Undefined when it is on the tour.
 */
export function notOnTour(profile: Profile, edge: string): string | undefined {
  if (buildTour(profile).reached.has(edge)) return undefined;
  const other: Profile = profile === '6.12' ? '7.3' : '6.12';
  if (buildTour(other).reached.has(edge)) return `${other} only: on the ${other} tour`;
  return UNREACHABLE[edge] ?? 'not reached by the bounded traversal (no reason recorded)';
}

function computeTour(profile: Profile): Tour {
  const reached = new Map<string, { scenario: string; events: readonly SysEvent[] }>();
  const costs = new Map<string, PathCost>();
  const explored: Omit<ExploreResult, 'paths'>[] = [];
  for (const spec of SCENARIOS) {
    if (!spec.profiles.includes(profile)) continue;
    const r = explore(spec, profile);
    explored.push({ scenario: r.scenario, profile, states: r.states, transitions: r.transitions });
    for (const [edge, events] of r.paths) {
      const cost = costOf(profile, events);
      const cur = costs.get(edge);
      if (!cur || cheaper(cost, cur)) {
        reached.set(edge, { scenario: spec.name, events });
        costs.set(edge, cost);
      }
    }
  }
  // Greedy cover: the longest paths first; a path also covers an edge along it when it needs no
  // feature that edge's own path does not (so an implementation lacking a feature loses only the
  // edges that need it).
  const order = [...reached].sort((a, b) => b[1].events.length - a[1].events.length || a[0].localeCompare(b[0]));
  const covered = new Set<string>();
  const paths: TourPath[] = [];
  for (const [edge, { scenario, events }] of order) {
    if (covered.has(edge)) continue;
    const spec = SCENARIOS.find((s) => s.name === scenario) as ScenarioSpec;
    const need = costs.get(edge) as PathCost;
    for (const e of edgesAlong(profile, spec, events)) {
      const own = costs.get(e);
      if (own && [...need.features].every((x) => own.features.has(x))) covered.add(e);
    }
    covered.add(edge);
    paths.push({ profile, scenario, events, targets: [edge] });
  }
  return { profile, explored, reached, paths };
}

/** The edges a path takes, step by step. */
export function edgesAlong(profile: Profile, spec: ScenarioSpec, events: readonly SysEvent[]): Set<string> {
  const logic = systemLogic({ profile, ...(spec.iommus ? { iommus: spec.iommus } : {}) });
  let snap = logic.getInitialSnapshot(undefined as never, undefined as never) as unknown as SystemSnapshot;
  const out = new Set<string>();
  for (const e of events) {
    snap = logic.transition(snap as never, e as never, undefined as never) as unknown as SystemSnapshot;
    for (const k of snap.taken) out.add(k);
  }
  return out;
}
