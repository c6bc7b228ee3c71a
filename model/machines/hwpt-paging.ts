/**
 * Paging HWPT (struct iommufd_hwpt_paging, IOMMUFD_OBJ_HWPT_PAGING): an IO
 * page table built on an IOAS. Automatic ones are created by attaching a
 * device to an IOAS and die with their last device; manual ones come from
 * IOMMU_HWPT_ALLOC and live until IOMMU_DESTROY. drivers/iommu/iommufd/
 * hw_pagetable.c, device.c, io_pagetable.c (dirty tracking).
 */
import type { Profile } from '../../spec/uapi/profiles.ts';
import { defineObjectMachine, type EventOf } from '../core/define.ts';

export interface HwptPagingContext {
  readonly nestParent: boolean;
  /** Allocated with IOMMU_HWPT_ALLOC_DIRTY_TRACKING: the domain has dirty ops. */
  readonly dirty: boolean;
  readonly pasidCompat: boolean;
  readonly fault: boolean;
}

/** How an attach-family event touches this HWPT. */
export type AttachRole = 'created' | 'target' | 'old';
export const ATTACH_EVENTS = [
  'IOMMU_TEST_OP_MOCK_DOMAIN',
  'IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS',
  'IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE',
  'VFIO_DEVICE_ATTACH_IOMMUFD_PT',
  'IOMMU_TEST_OP_PASID_ATTACH',
  'IOMMU_TEST_OP_PASID_REPLACE',
] as const;
/** Events that detach a device (or PASID) from a HWPT without attaching it elsewhere. */
export const DETACH_EVENTS = ['VFIO_DEVICE_DETACH_IOMMUFD_PT', 'IOMMU_TEST_OP_PASID_DETACH', 'IOMMU_DESTROY', 'close'] as const;

export type HwptPagingEvent =
  | {
      readonly type: 'IOMMU_HWPT_ALLOC';
      readonly profile: Profile;
      readonly nestParent: boolean;
      readonly dirty: boolean;
      readonly pasid: boolean;
      readonly fault: boolean;
      /** The device's IOMMU can track dirty pages for it (IOMMU_CAP_DIRTY_TRACKING). */
      readonly deviceDirty: boolean;
    }
  | {
      readonly type: (typeof ATTACH_EVENTS)[number];
      readonly role: AttachRole;
      /** target: the mock driver refuses a dirty-tracking domain for a MOCK_FLAGS_DEVICE_NO_DIRTY device. */
      readonly deviceDirty: boolean;
      /** old: the detached device was the HWPT's last user. */
      readonly lastUser: boolean;
    }
  | { readonly type: 'VFIO_DEVICE_DETACH_IOMMUFD_PT' | 'IOMMU_TEST_OP_PASID_DETACH'; readonly role: 'old'; readonly lastUser: boolean }
  | { readonly type: 'IOMMU_DESTROY'; readonly role: 'self' | 'old'; readonly users: number; readonly lastUser: boolean }
  | { readonly type: 'close'; readonly role: 'release' | 'old'; readonly lastUser: boolean }
  | { readonly type: 'IOMMU_HWPT_SET_DIRTY_TRACKING'; readonly enable: boolean }
  | { readonly type: 'IOMMU_HWPT_GET_DIRTY_BITMAP'; readonly profile: Profile }
  | { readonly type: 'IOMMU_HWPT_INVALIDATE'; readonly profile: Profile };

type E<T extends HwptPagingEvent['type']> = EventOf<HwptPagingEvent, T>;
const role = (e: HwptPagingEvent): string | undefined => (e as { role?: string }).role;

export const hwptPaging = defineObjectMachine<HwptPagingContext, HwptPagingEvent>({
  id: 'hwpt_paging',
  title: 'Paging HWPT',
  kernel: 'struct iommufd_hwpt_paging (IOMMUFD_OBJ_HWPT_PAGING)',
  description:
    'An IO page table on an IOAS. Automatic HWPTs are created when a device attaches to an IOAS and no existing automatic HWPT of that IOAS takes it, and are destroyed when their last device detaches, replaces away or is unbound. Manual HWPTs come from IOMMU_HWPT_ALLOC with their flags (NEST_PARENT, DIRTY_TRACKING, ALLOC_PASID, FAULT_ID_VALID) fixed for life, and stay until IOMMU_DESTROY, which fails with EBUSY while devices, nested children or vIOMMUs hold them. Dirty tracking can only be switched on a HWPT allocated with DIRTY_TRACKING.',
  context: { nestParent: false, dirty: false, pasidCompat: false, fault: false },
  events: [
    'IOMMU_HWPT_ALLOC',
    ...ATTACH_EVENTS,
    'VFIO_DEVICE_DETACH_IOMMUFD_PT',
    'IOMMU_TEST_OP_PASID_DETACH',
    'IOMMU_DESTROY',
    'close',
    'IOMMU_HWPT_SET_DIRTY_TRACKING',
    'IOMMU_HWPT_GET_DIRTY_BITMAP',
    'IOMMU_HWPT_INVALIDATE',
  ],
  guards: {
    dirtyWithoutDeviceCapability: {
      fn: (_c, e) => (e as E<'IOMMU_HWPT_ALLOC'>).dirty && !(e as E<'IOMMU_HWPT_ALLOC'>).deviceDirty,
      doc: 'DIRTY_TRACKING asked for a device whose IOMMU cannot track dirty pages for it',
      clauses: ['HWPT_ALLOC.DIRTY_WITHOUT_CAP'],
    },
    faultOnPaging612: {
      fn: (_c, e) => (e as E<'IOMMU_HWPT_ALLOC'>).fault && (e as E<'IOMMU_HWPT_ALLOC'>).profile === '6.12',
      doc: '6.12: FAULT_ID_VALID is a flag of nested HWPTs only (iommufd_hwpt_paging_alloc valid_flags)',
      clauses: ['FAULT.HWPT_KINDS'],
    },
    faultWithNestParent: {
      fn: (_c, e) => (e as E<'IOMMU_HWPT_ALLOC'>).fault && (e as E<'IOMMU_HWPT_ALLOC'>).nestParent,
      doc: 'FAULT_ID_VALID together with NEST_PARENT',
      clauses: ['HWPT_ALLOC.FAULT_WITH_NEST_PARENT'],
    },
    isCreated: { fn: (_c, e) => role(e) === 'created', doc: 'the attach created this automatic HWPT', clauses: ['HWPT.AUTO_DOMAIN_REUSE'] },
    domainRefusesDevice: {
      fn: (c, e) => role(e) === 'target' && c.dirty && !(e as E<'IOMMU_TEST_OP_MOCK_DOMAIN'>).deviceDirty,
      doc: 'mock driver (attach_dev): a dirty-tracking domain refuses a MOCK_FLAGS_DEVICE_NO_DIRTY device’s RID',
      clauses: ['HWPT.DIRTY_DOMAIN_REFUSES_NO_DIRTY_DEVICE'],
    },
    isTarget: { fn: (_c, e) => role(e) === 'target', doc: 'a device (or PASID) attaches to this HWPT' },
    lastUserLeaves: {
      fn: (_c, e) => role(e) === 'old' && (e as E<'VFIO_DEVICE_DETACH_IOMMUFD_PT'>).lastUser,
      doc: 'the device (or PASID) leaving was the last user of this automatic HWPT',
      clauses: ['HWPT.AUTO_DOMAIN_SELF_DESTRUCT', 'REPLACE.FREES_OLD_AUTO'],
    },
    isOld: { fn: (_c, e) => role(e) === 'old', doc: 'a device (or PASID) leaves this HWPT' },
    hasUsers: {
      fn: (_c, e) => (e as E<'IOMMU_DESTROY'>).role === 'self' && (e as E<'IOMMU_DESTROY'>).users > 0,
      doc: 'attached devices or PASIDs, nested children or vIOMMUs hold it',
      clauses: ['HWPT.DESTROY_EBUSY', 'DESTROY.EBUSY'],
    },
    isRelease: { fn: (_c, e) => role(e) === 'release', doc: 'the iommufd is released' },
    notDirtyCapable: { fn: (c) => !c.dirty, doc: 'allocated without DIRTY_TRACKING: the domain has no dirty ops', clauses: ['HWPT.DIRTY_OPS_REQUIRED'] },
    enables: { fn: (_c, e) => (e as E<'IOMMU_HWPT_SET_DIRTY_TRACKING'>).enable, doc: 'IOMMU_HWPT_DIRTY_TRACKING_ENABLE' },
    readsUntracked612: {
      fn: (_c, e) => (e as E<'IOMMU_HWPT_GET_DIRTY_BITMAP'>).profile === '6.12',
      doc: '6.12 refuses to read dirty bits while tracking is off (EINVAL from the driver over an area, from the contiguity check elsewhere); 7.3 ignores both',
      clauses: ['HWPT.DIRTY_READ_NEEDS_TRACKING_612'],
    },
    profile612: {
      fn: (_c, e) => (e as E<'IOMMU_HWPT_INVALIDATE'>).profile === '6.12',
      doc: '6.12 looks the id up as a nested HWPT (ENOENT); 7.3 refuses an existing object that is neither nested nor a vIOMMU with EINVAL',
      clauses: ['HWPT_INVALIDATE.TARGET'],
    },
  },
  actions: {
    record: (_c, e) => {
      const a = e as E<'IOMMU_HWPT_ALLOC'>;
      return { nestParent: a.nestParent, dirty: a.dirty, pasidCompat: a.pasid, fault: a.fault };
    },
  },
  initial: 'absent',
  states: {
    absent: {
      on: {
        IOMMU_HWPT_ALLOC: [
          { guard: 'faultOnPaging612', meta: { refuse: 'EOPNOTSUPP', clauses: ['FAULT.HWPT_KINDS'] } },
          { guard: 'faultWithNestParent', meta: { refuse: 'EOPNOTSUPP', clauses: ['HWPT_ALLOC.FAULT_WITH_NEST_PARENT'] } },
          { guard: 'dirtyWithoutDeviceCapability', meta: { refuse: 'EOPNOTSUPP', clauses: ['HWPT_ALLOC.DIRTY_WITHOUT_CAP'] } },
          { target: 'manual', actions: 'record', meta: { clauses: ['HWPT_ALLOC.MANUAL'] } },
        ],
        IOMMU_TEST_OP_MOCK_DOMAIN: { guard: 'isCreated', target: 'auto', meta: { clauses: ['HWPT.AUTO_DOMAIN_REUSE', 'MOCK_DOMAIN.IDS'] } },
        IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS: { guard: 'isCreated', target: 'auto', meta: { clauses: ['HWPT.AUTO_DOMAIN_REUSE'] } },
        IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE: { guard: 'isCreated', target: 'auto', meta: { clauses: ['HWPT.AUTO_DOMAIN_REUSE'] } },
        VFIO_DEVICE_ATTACH_IOMMUFD_PT: { guard: 'isCreated', target: 'auto', meta: { clauses: ['HWPT.AUTO_DOMAIN_REUSE', 'VFIO_ATTACH.REPLACE'] } },
      },
    },
    auto: {
      description: 'automatic: created by a RID attach to an IOAS, destroyed with its last user; never PASID-compatible, so no PASID ever uses it',
      on: {
        IOMMU_TEST_OP_MOCK_DOMAIN: [{ guard: 'isTarget', meta: { clauses: ['HWPT.AUTO_DOMAIN_REUSE'] } }],
        IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS: [{ guard: 'isTarget', meta: { clauses: ['HWPT.AUTO_DOMAIN_REUSE'] } }],
        IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE: [{ guard: 'lastUserLeaves', target: 'destroyed' }, { guard: 'isOld' }, { guard: 'isTarget' }],
        VFIO_DEVICE_ATTACH_IOMMUFD_PT: [{ guard: 'lastUserLeaves', target: 'destroyed' }, { guard: 'isOld' }, { guard: 'isTarget' }],
        VFIO_DEVICE_DETACH_IOMMUFD_PT: [{ guard: 'lastUserLeaves', target: 'destroyed' }, { guard: 'isOld' }],
        IOMMU_DESTROY: [
          { guard: 'lastUserLeaves', target: 'destroyed' },
          { guard: 'isOld' },
          { guard: 'hasUsers', meta: { refuse: 'EBUSY', clauses: ['HWPT.DESTROY_EBUSY'] } },
        ],
        close: [{ guard: 'lastUserLeaves', target: 'destroyed' }, { guard: 'isOld' }, { guard: 'isRelease', target: 'destroyed', meta: { clauses: ['RELEASE.LEAVES_FIRST'] } }],
        IOMMU_HWPT_SET_DIRTY_TRACKING: { meta: { refuse: 'EOPNOTSUPP', clauses: ['HWPT.DIRTY_OPS_REQUIRED'] } },
        IOMMU_HWPT_GET_DIRTY_BITMAP: { meta: { refuse: 'EOPNOTSUPP', clauses: ['HWPT.DIRTY_OPS_REQUIRED'] } },
        IOMMU_HWPT_INVALIDATE: [
          { guard: 'profile612', meta: { refuse: 'ENOENT', clauses: ['HWPT_INVALIDATE.TARGET'] } },
          { meta: { refuse: 'EINVAL', clauses: ['HWPT_INVALIDATE.TARGET'] } },
        ],
      },
    },
    manual: {
      description: 'manual: from IOMMU_HWPT_ALLOC, destroyed only by IOMMU_DESTROY without users',
      initial: 'untracked',
      on: {
        IOMMU_TEST_OP_MOCK_DOMAIN: { guard: 'isTarget' },
        IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS: [{ guard: 'domainRefusesDevice', meta: { refuse: 'EINVAL', clauses: ['HWPT.DIRTY_DOMAIN_REFUSES_NO_DIRTY_DEVICE'] } }, { guard: 'isTarget' }],
        IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE: [{ guard: 'domainRefusesDevice', meta: { refuse: 'EINVAL', clauses: ['HWPT.DIRTY_DOMAIN_REFUSES_NO_DIRTY_DEVICE'] } }, { guard: 'isTarget' }, { guard: 'isOld' }],
        VFIO_DEVICE_ATTACH_IOMMUFD_PT: [{ guard: 'isTarget' }, { guard: 'isOld' }],
        // set_dev_pasid (mock_domain_set_dev_pasid_nop) has no dirty check: a PASID of a NO_DIRTY device may use a dirty domain.
        IOMMU_TEST_OP_PASID_ATTACH: { guard: 'isTarget' },
        IOMMU_TEST_OP_PASID_REPLACE: [{ guard: 'isTarget' }, { guard: 'isOld' }],
        VFIO_DEVICE_DETACH_IOMMUFD_PT: { guard: 'isOld' },
        IOMMU_TEST_OP_PASID_DETACH: { guard: 'isOld' },
        IOMMU_DESTROY: [
          { guard: 'isOld' },
          { guard: 'hasUsers', meta: { refuse: 'EBUSY', clauses: ['HWPT.DESTROY_EBUSY', 'DESTROY.EBUSY'] } },
          { target: 'destroyed', meta: { clauses: ['HWPT_ALLOC.MANUAL'] } },
        ],
        close: [{ guard: 'isOld' }, { target: 'destroyed', meta: { clauses: ['RELEASE.LEAVES_FIRST'] } }],
        IOMMU_HWPT_SET_DIRTY_TRACKING: [
          { guard: 'notDirtyCapable', meta: { refuse: 'EOPNOTSUPP', clauses: ['HWPT.DIRTY_OPS_REQUIRED'] } },
          { guard: 'enables', target: '.tracking', meta: { clauses: ['HWPT.DIRTY_TRACKING_SWITCH'] } },
          { target: '.untracked', meta: { clauses: ['HWPT.DIRTY_TRACKING_SWITCH'] } },
        ],
        // Tracking on (only a dirty-capable HWPT gets there); untracked decides below.
        IOMMU_HWPT_GET_DIRTY_BITMAP: {},
        IOMMU_HWPT_INVALIDATE: [
          { guard: 'profile612', meta: { refuse: 'ENOENT', clauses: ['HWPT_INVALIDATE.TARGET'] } },
          { meta: { refuse: 'EINVAL', clauses: ['HWPT_INVALIDATE.TARGET'] } },
        ],
      },
      states: {
        untracked: {
          description: 'dirty tracking off',
          on: {
            IOMMU_HWPT_GET_DIRTY_BITMAP: [
              { guard: 'notDirtyCapable', meta: { refuse: 'EOPNOTSUPP', clauses: ['HWPT.DIRTY_OPS_REQUIRED'] } },
              { guard: 'readsUntracked612', meta: { refuse: 'EINVAL', clauses: ['HWPT.DIRTY_READ_NEEDS_TRACKING_612'] } },
              {},
            ],
          },
        },
        tracking: { description: 'dirty tracking on (IOMMU_HWPT_DIRTY_TRACKING_ENABLE)' },
      },
    },
    destroyed: { type: 'final' },
  },
});
