/**
 * Device (struct iommufd_device, IOMMUFD_OBJ_DEVICE): a physical device bound
 * to an iommufd — an environment device through its VFIO cdev
 * (VFIO_DEVICE_BIND_IOMMUFD), or a selftest mock device that
 * IOMMU_TEST_OP_MOCK_DOMAIN creates, binds and attaches at once. Its RID
 * attachment and its PASID attachments are parallel regions: a PASID may only
 * use a PASID-compatible HWPT, and only while the RID's HWPT (if any) is
 * PASID-compatible too. drivers/iommu/iommufd/device.c, drivers/vfio/iommufd.c,
 * drivers/vfio/device_cdev.c, selftest.c.
 */
import { defineObjectMachine, type EventOf } from '../core/define.ts';

export type HwptKind = 'auto' | 'paging' | 'nested';

export interface DeviceContext {
  /** A selftest mock device (lives and dies with its selftest object). */
  readonly mock: boolean;
  /** Bound to an iommufd (mirrors the rid region, for the pasid region's guards). */
  readonly bound: boolean;
  /** The RID's HWPT is PASID-compatible; null while the RID is not attached. */
  readonly ridCompat: boolean | null;
  /** PASIDs with an attachment. */
  readonly pasids: readonly number[];
}

interface Attach {
  /** undefined: the RID; a number: that PASID. */
  readonly pasid?: number;
  /** The HWPT the attach ends on: an IOAS's automatic HWPT, a manual paging HWPT or a nested one. */
  readonly kind: HwptKind;
  /** That HWPT was allocated with IOMMU_HWPT_ALLOC_PASID. */
  readonly compat: boolean;
}

export type DeviceEvent =
  | { readonly type: 'device_create' }
  | ({ readonly type: 'IOMMU_TEST_OP_MOCK_DOMAIN' | 'IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS' } & Attach)
  | { readonly type: 'VFIO_DEVICE_BIND_IOMMUFD' }
  | ({ readonly type: 'VFIO_DEVICE_ATTACH_IOMMUFD_PT' | 'IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE' | 'IOMMU_TEST_OP_PASID_ATTACH' | 'IOMMU_TEST_OP_PASID_REPLACE' } & Attach)
  | { readonly type: 'VFIO_DEVICE_DETACH_IOMMUFD_PT' | 'IOMMU_TEST_OP_PASID_DETACH'; readonly pasid?: number }
  /** matches: the PASID's attachment is the HWPT asked about (hwpt_id 0: no attachment). */
  | { readonly type: 'IOMMU_TEST_OP_PASID_CHECK_HWPT'; readonly matches: boolean }
  /** role idev: DESTROY of the DEVICE object; stdev: DESTROY of the mock device's selftest object. */
  | { readonly type: 'IOMMU_DESTROY'; readonly role: 'idev' | 'stdev' }
  /** role file: the device's VFIO file is released (unbind); release: its iommufd is released (mock devices). */
  | { readonly type: 'close'; readonly role: 'file' | 'release' }
  /** fileOpen: a VFIO file of the device is still open or held. */
  | { readonly type: 'device_remove'; readonly fileOpen: boolean };

type E<T extends DeviceEvent['type']> = EventOf<DeviceEvent, T>;
const pasidOf = (e: DeviceEvent): number | undefined => (e as { pasid?: number }).pasid;
const attachOf = (e: DeviceEvent): Attach => e as unknown as Attach;
const isRid = (e: DeviceEvent): boolean => pasidOf(e) === undefined;

/** RID attach to a HWPT of this kind (not PASID-compatible while PASIDs are attached is refused first). */
const ridTo = (kind: HwptKind) => (_c: DeviceContext, e: DeviceEvent) => isRid(e) && attachOf(e).kind === kind;

/** `steps`: the clause fixing the order of the attach's (or replace's) fallible steps, each failure leaving the device where it was. */
const RID_ATTACH = (nonCompat: boolean, steps: 'ATTACH.FALLIBLE_STEPS' | 'REPLACE.FALLIBLE_STEPS') => [
  ...(nonCompat ? [{ guard: 'ridNonCompatWithPasids', meta: { refuse: 'EINVAL', clauses: ['PASID.RID_COMPAT'] } }] : []),
  { guard: 'ridToAuto', target: '#device.present.rid.attached.auto', actions: 'attachRid', meta: { clauses: [steps] } },
  { guard: 'ridToPaging', target: '#device.present.rid.attached.paging', actions: 'attachRid', meta: { clauses: [steps] } },
  { guard: 'ridToNested', target: '#device.present.rid.attached.nested', actions: 'attachRid', meta: { clauses: [steps] } },
];

const PASID_RULES = [
  { guard: 'hwptNotPasidCompat', meta: { refuse: 'EINVAL', clauses: ['PASID.HWPT_COMPAT'] } },
  { guard: 'ridHwptNotPasidCompat', meta: { refuse: 'EINVAL', clauses: ['PASID.RID_COMPAT'] } },
];
/** With a PASID attached the RID cannot be on an incompatible HWPT (the RID rule refuses that move), so only the HWPT's own flag is left to check. */
const PASID_RULES_SOME = [{ guard: 'hwptNotPasidCompat', meta: { refuse: 'EINVAL', clauses: ['PASID.HWPT_COMPAT'] } }];

export const device = defineObjectMachine<DeviceContext, DeviceEvent>({
  id: 'device',
  title: 'Device',
  kernel: 'struct iommufd_device (IOMMUFD_OBJ_DEVICE)',
  description:
    'A device and its attachments. An environment device is created unbound; VFIO_DEVICE_BIND_IOMMUFD binds it (claiming its group), VFIO_DEVICE_ATTACH_IOMMUFD_PT attaches or, when attached, replaces atomically, DETACH returns it to bound, and releasing its VFIO file unbinds it, detaching every PASID and the RID. A mock device is created bound and attached by IOMMU_TEST_OP_MOCK_DOMAIN and removed by IOMMU_DESTROY of its selftest object. The DEVICE object itself is held by its driver: IOMMU_DESTROY of it always fails with EBUSY. In parallel, each PASID attaches only to a PASID-compatible HWPT and only while the RID’s HWPT is PASID-compatible; the RID cannot move to an incompatible HWPT while a PASID is attached; a second attach of an attached PASID is EBUSY; replacing or checking a PASID follows the attachment.',
  context: { mock: false, bound: false, ridCompat: null, pasids: [] },
  events: [
    'device_create',
    'IOMMU_TEST_OP_MOCK_DOMAIN',
    'IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS',
    'VFIO_DEVICE_BIND_IOMMUFD',
    'VFIO_DEVICE_ATTACH_IOMMUFD_PT',
    'IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE',
    'IOMMU_TEST_OP_PASID_ATTACH',
    'IOMMU_TEST_OP_PASID_REPLACE',
    'VFIO_DEVICE_DETACH_IOMMUFD_PT',
    'IOMMU_TEST_OP_PASID_DETACH',
    'IOMMU_TEST_OP_PASID_CHECK_HWPT',
    'IOMMU_DESTROY',
    'close',
    'device_remove',
  ],
  guards: {
    ridToAuto: { fn: ridTo('auto'), doc: 'the RID attaches to an IOAS: its automatic HWPT', clauses: ['HWPT.AUTO_DOMAIN_REUSE'] },
    ridToPaging: { fn: ridTo('paging'), doc: 'the RID attaches to a manual paging HWPT' },
    ridToNested: { fn: ridTo('nested'), doc: 'the RID attaches to a nested HWPT', clauses: ['NESTING.ATTACH'] },
    ridNonCompatWithPasids: {
      fn: (c, e) => isRid(e) && c.pasids.length > 0 && !attachOf(e).compat,
      doc: 'the RID would move to a HWPT without IOMMU_HWPT_ALLOC_PASID while a PASID is attached',
      clauses: ['PASID.RID_COMPAT'],
    },
    isRidEvent: { fn: (_c, e) => isRid(e), doc: 'the event is about the RID (no PASID)' },
    isPasidEvent: { fn: (_c, e) => !isRid(e), doc: 'the event is about a PASID' },
    notBoundPasid: { fn: (c, e) => !isRid(e) && !c.bound, doc: 'a PASID event on a device that is not bound (the RID region refuses it)' },
    hwptNotPasidCompat: {
      fn: (_c, e) => !attachOf(e).compat,
      doc: 'the HWPT was allocated without IOMMU_HWPT_ALLOC_PASID (an IOAS’s automatic HWPT never is)',
      clauses: ['PASID.HWPT_COMPAT'],
    },
    ridHwptNotPasidCompat: {
      fn: (c) => c.ridCompat === false,
      doc: 'the RID is attached to a HWPT that is not PASID-compatible',
      clauses: ['PASID.RID_COMPAT'],
    },
    pasidAttached: { fn: (c, e) => c.pasids.includes(pasidOf(e) ?? -1), doc: 'this PASID already has an attachment' },
    pasidNotAttached: { fn: (c, e) => !c.pasids.includes(pasidOf(e) ?? -1), doc: 'this PASID has no attachment' },
    lastPasidLeaves: {
      fn: (c, e) => c.pasids.length === 1 && c.pasids[0] === pasidOf(e),
      doc: 'the detached PASID was the only one attached',
    },
    checkMismatch: { fn: (_c, e) => !(e as E<'IOMMU_TEST_OP_PASID_CHECK_HWPT'>).matches, doc: 'the PASID is not attached to the HWPT asked about' },
    isIdev: { fn: (_c, e) => (e as E<'IOMMU_DESTROY'>).role === 'idev', doc: 'IOMMU_DESTROY names the DEVICE object' },
    stdevWithoutPasids: {
      fn: (c, e) => (e as E<'IOMMU_DESTROY'>).role === 'stdev' && c.pasids.length === 0,
      doc: 'IOMMU_DESTROY of the mock device’s selftest object, no PASID attached (with PASIDs attached the kernel leaks the device: not modelled)',
      clauses: ['MOCK_DOMAIN.DESTROY'],
    },
    isFileRelease: { fn: (_c, e) => (e as E<'close'>).role === 'file', doc: 'the device’s VFIO file is released' },
    isCtxRelease: { fn: (_c, e) => (e as E<'close'>).role === 'release', doc: 'the iommufd holding the mock device is released' },
    noFileOpen: { fn: (_c, e) => !(e as E<'device_remove'>).fileOpen, doc: 'no VFIO file of the device is open or held' },
  },
  actions: {
    created: (c) => ({ ...c, mock: false }),
    mockCreated: (_c, e) => ({ mock: true, bound: true, ridCompat: attachOf(e).compat, pasids: [] }),
    bind: (c) => ({ ...c, bound: true }),
    attachRid: (c, e) => ({ ...c, ridCompat: attachOf(e).compat }),
    detachRid: (c) => ({ ...c, ridCompat: null }),
    unbind: () => ({ mock: false, bound: false, ridCompat: null, pasids: [] }),
    attachPasid: (c, e) => ({ ...c, pasids: [...c.pasids, pasidOf(e) as number].sort((a, b) => a - b) }),
    detachPasid: (c, e) => ({ ...c, pasids: c.pasids.filter((p) => p !== pasidOf(e)) }),
  },
  initial: 'absent',
  states: {
    absent: {
      on: {
        device_create: { target: 'present', actions: 'created', meta: { clauses: ['DEVICE.ENVIRONMENT'] } },
        IOMMU_TEST_OP_MOCK_DOMAIN: [
          { guard: 'ridToAuto', target: '#device.present.rid.attached.auto', actions: 'mockCreated', meta: { clauses: ['MOCK_DOMAIN.IDS'] } },
          { guard: 'ridToPaging', target: '#device.present.rid.attached.paging', actions: 'mockCreated', meta: { clauses: ['MOCK_DOMAIN.IDS'] } },
          { guard: 'ridToNested', target: '#device.present.rid.attached.nested', actions: 'mockCreated', meta: { clauses: ['MOCK_DOMAIN.IDS'] } },
        ],
        IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS: [
          { guard: 'ridToAuto', target: '#device.present.rid.attached.auto', actions: 'mockCreated', meta: { clauses: ['MOCK_DOMAIN.IDS'] } },
          { guard: 'ridToPaging', target: '#device.present.rid.attached.paging', actions: 'mockCreated', meta: { clauses: ['MOCK_DOMAIN.IDS'] } },
          { guard: 'ridToNested', target: '#device.present.rid.attached.nested', actions: 'mockCreated', meta: { clauses: ['MOCK_DOMAIN.IDS'] } },
        ],
      },
    },
    present: {
      type: 'parallel',
      on: {
        IOMMU_DESTROY: [
          { guard: 'isIdev', meta: { refuse: 'EBUSY', clauses: ['VFIO_BIND.DEVID', 'DEVICE.DRIVER_HOLDS'] } },
          { guard: 'stdevWithoutPasids', target: 'removed', meta: { clauses: ['MOCK_DOMAIN.DESTROY'] } },
        ],
        close: { guard: 'isCtxRelease', target: 'removed', meta: { clauses: ['RELEASE.LEAVES_FIRST', 'MOCK_DOMAIN.DESTROY'] } },
        device_remove: { guard: 'noFileOpen', target: 'removed', meta: { clauses: ['DEVICE.ENVIRONMENT'] } },
      },
      states: {
        rid: {
          initial: 'unbound',
          states: {
            unbound: {
              description: 'not bound to any iommufd',
              on: {
                VFIO_DEVICE_BIND_IOMMUFD: { target: 'bound', actions: 'bind', meta: { clauses: ['VFIO_BIND.DEVID', 'GROUP.OWNERSHIP'] } },
                VFIO_DEVICE_ATTACH_IOMMUFD_PT: { meta: { refuse: 'EINVAL', clauses: ['VFIO_BIND.NOT_BOUND'] } },
                VFIO_DEVICE_DETACH_IOMMUFD_PT: { meta: { refuse: 'EINVAL', clauses: ['VFIO_BIND.NOT_BOUND'] } },
              },
            },
            bound: {
              description: 'bound (its group owned by this iommufd), DMA blocked',
              on: {
                VFIO_DEVICE_BIND_IOMMUFD: { meta: { refuse: 'EINVAL', clauses: ['VFIO_BIND.TWICE'] } },
                VFIO_DEVICE_ATTACH_IOMMUFD_PT: RID_ATTACH(true, 'ATTACH.FALLIBLE_STEPS'),
                VFIO_DEVICE_DETACH_IOMMUFD_PT: { guard: 'isRidEvent', meta: { clauses: ['VFIO_DETACH.BLOCKS'] } },
                close: { guard: 'isFileRelease', target: 'unbound', actions: 'unbind', meta: { clauses: ['VFIO_BIND.DEVID'] } },
              },
            },
            attached: {
              description: 'the RID translates through a HWPT',
              initial: 'auto',
              on: {
                VFIO_DEVICE_BIND_IOMMUFD: { meta: { refuse: 'EINVAL', clauses: ['VFIO_BIND.TWICE'] } },
                VFIO_DEVICE_ATTACH_IOMMUFD_PT: RID_ATTACH(true, 'REPLACE.FALLIBLE_STEPS'),
                IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE: RID_ATTACH(true, 'REPLACE.FALLIBLE_STEPS'),
                VFIO_DEVICE_DETACH_IOMMUFD_PT: { guard: 'isRidEvent', target: 'bound', actions: 'detachRid', meta: { clauses: ['VFIO_DETACH.BLOCKS'] } },
                close: { guard: 'isFileRelease', target: 'unbound', actions: 'unbind', meta: { clauses: ['VFIO_BIND.DEVID', 'HWPT.AUTO_DOMAIN_SELF_DESTRUCT'] } },
              },
              states: {
                auto: { description: 'to an IOAS’s automatic HWPT' },
                paging: { description: 'to a manual paging HWPT' },
                nested: { description: 'to a nested HWPT' },
              },
            },
          },
        },
        pasid: {
          initial: 'none',
          states: {
            none: {
              description: 'no PASID attached',
              on: {
                IOMMU_TEST_OP_PASID_ATTACH: [...PASID_RULES, { target: 'some', actions: 'attachPasid', meta: { clauses: ['PASID.ATTACH'] } }],
                VFIO_DEVICE_ATTACH_IOMMUFD_PT: [
                  { guard: 'isRidEvent' },
                  { guard: 'notBoundPasid' },
                  ...PASID_RULES,
                  { target: 'some', actions: 'attachPasid', meta: { clauses: ['PASID.ATTACH'] } },
                ],
                IOMMU_TEST_OP_PASID_REPLACE: { meta: { refuse: 'EINVAL', clauses: ['PASID.REPLACE'] } },
                IOMMU_TEST_OP_PASID_DETACH: { meta: { clauses: ['PASID.DETACH'] } },
                VFIO_DEVICE_DETACH_IOMMUFD_PT: { guard: 'isPasidEvent', meta: { clauses: ['PASID.DETACH'] } },
                IOMMU_TEST_OP_PASID_CHECK_HWPT: [{ guard: 'checkMismatch', meta: { refuse: 'EINVAL', clauses: ['PASID.CHECK_HWPT'] } }, { meta: { clauses: ['PASID.CHECK_HWPT'] } }],
              },
            },
            some: {
              description: 'one or more PASIDs attached',
              on: {
                IOMMU_TEST_OP_PASID_ATTACH: [
                  { guard: 'pasidAttached', meta: { refuse: 'EBUSY', clauses: ['PASID.ATTACH_TWICE'] } },
                  ...PASID_RULES_SOME,
                  { actions: 'attachPasid', meta: { clauses: ['PASID.ATTACH'] } },
                ],
                VFIO_DEVICE_ATTACH_IOMMUFD_PT: [
                  { guard: 'isRidEvent' },
                  ...PASID_RULES_SOME,
                  { guard: 'pasidAttached', meta: { clauses: ['PASID.REPLACE'] } },
                  { actions: 'attachPasid', meta: { clauses: ['PASID.ATTACH'] } },
                ],
                IOMMU_TEST_OP_PASID_REPLACE: [
                  { guard: 'pasidNotAttached', meta: { refuse: 'EINVAL', clauses: ['PASID.REPLACE'] } },
                  ...PASID_RULES_SOME,
                  { meta: { clauses: ['PASID.REPLACE'] } },
                ],
                IOMMU_TEST_OP_PASID_DETACH: [
                  { guard: 'lastPasidLeaves', target: 'none', actions: 'detachPasid', meta: { clauses: ['PASID.DETACH'] } },
                  { actions: 'detachPasid', meta: { clauses: ['PASID.DETACH'] } },
                ],
                VFIO_DEVICE_DETACH_IOMMUFD_PT: [
                  { guard: 'isRidEvent' },
                  { guard: 'lastPasidLeaves', target: 'none', actions: 'detachPasid', meta: { clauses: ['PASID.DETACH'] } },
                  { actions: 'detachPasid', meta: { clauses: ['PASID.DETACH'] } },
                ],
                IOMMU_TEST_OP_PASID_CHECK_HWPT: [{ guard: 'checkMismatch', meta: { refuse: 'EINVAL', clauses: ['PASID.CHECK_HWPT'] } }, { meta: { clauses: ['PASID.CHECK_HWPT'] } }],
                close: { guard: 'isFileRelease', target: 'none', meta: { clauses: ['PASID.UNBIND_DETACHES'] } },
              },
            },
          },
        },
      },
    },
    removed: { type: 'final', description: 'unplugged (environment) or destroyed with its selftest object (mock)' },
  },
});
