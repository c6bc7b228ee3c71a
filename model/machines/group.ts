/**
 * iommu group (struct iommu_group, and per iommufd struct iommufd_group):
 * devices that cannot be isolated from each other. Binding any of them claims
 * DMA ownership of the whole group for one iommufd; the first device to attach
 * attaches the group and every other device of the group must attach to the
 * same HWPT. Groups are fixed at probe time (seed 000): a device never changes
 * group. drivers/iommu/iommu.c (iommu_device_claim_dma_owner),
 * drivers/iommu/iommufd/device.c (iommufd_hw_pagetable_attach, _detach,
 * iommufd_device_do_replace).
 */
import { defineObjectMachine, type EventOf } from '../core/define.ts';

export interface GroupContext {
  /** Devices in the group. */
  readonly devices: number;
  /** Devices bound (to the owner). */
  readonly bound: number;
  /** Devices whose RID is attached (all to the same HWPT). */
  readonly attached: number;
}

export type GroupEvent =
  | { readonly type: 'device_create' }
  | { readonly type: 'device_remove' }
  | { readonly type: 'IOMMU_TEST_OP_MOCK_DOMAIN' | 'IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS' }
  /** ownedElsewhere: the group is owned by another iommufd (or a kernel driver). */
  | { readonly type: 'VFIO_DEVICE_BIND_IOMMUFD'; readonly ownedElsewhere: boolean }
  /**
   * A RID attach or replace by a device of the group. callerAttached: that
   * device is attached (a replace, which moves the whole group); otherHwpt: the
   * group is attached to another HWPT than the one the device ends on.
   */
  | { readonly type: 'VFIO_DEVICE_ATTACH_IOMMUFD_PT'; readonly callerAttached: boolean; readonly otherHwpt: boolean }
  /** A RID detach of an attached device. */
  | { readonly type: 'VFIO_DEVICE_DETACH_IOMMUFD_PT' }
  /** role file: a device's VFIO file is released (unbind; attached says whether its RID was attached). */
  | { readonly type: 'close'; readonly role: 'file' | 'release'; readonly attached: boolean }
  | { readonly type: 'IOMMU_DESTROY'; readonly role: 'stdev' };

type E<T extends GroupEvent['type']> = EventOf<GroupEvent, T>;

export const group = defineObjectMachine<GroupContext, GroupEvent>({
  id: 'group',
  title: 'iommu group',
  kernel: 'struct iommu_group / struct iommufd_group',
  description:
    'Devices the platform cannot isolate from each other. Unowned until one of its devices is bound; then owned by that iommufd, which any further device of the group may join (another iommufd gets EPERM) until the last one unbinds. One HWPT per group: the first device to attach attaches the group, every other device must attach individually to the same HWPT (EINVAL otherwise), a replace by an attached device moves the whole group, and the group returns to blocked DMA when its last device detaches. A selftest mock device is alone in its group.',
  context: { devices: 0, bound: 0, attached: 0 },
  events: [
    'device_create',
    'device_remove',
    'IOMMU_TEST_OP_MOCK_DOMAIN',
    'IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS',
    'VFIO_DEVICE_BIND_IOMMUFD',
    'VFIO_DEVICE_ATTACH_IOMMUFD_PT',
    'VFIO_DEVICE_DETACH_IOMMUFD_PT',
    'close',
    'IOMMU_DESTROY',
  ],
  guards: {
    ownedElsewhere: {
      fn: (_c, e) => (e as E<'VFIO_DEVICE_BIND_IOMMUFD'>).ownedElsewhere,
      doc: 'another iommufd owns the group',
      clauses: ['GROUP.OWNERSHIP', 'VFIO_BIND.DMA_OWNER'],
    },
    lastDeviceRemoved: { fn: (c) => c.devices === 1, doc: 'the removed device was the last of the group' },
    lastUnbind: {
      fn: (c, e) => (e as E<'close'>).role === 'file' && c.bound === 1,
      doc: 'the unbound device was the last bound one: ownership is released',
      clauses: ['GROUP.OWNERSHIP'],
    },
    isFileRelease: { fn: (_c, e) => (e as E<'close'>).role === 'file', doc: 'a device file of the group is released' },
    isCtxRelease: { fn: (_c, e) => (e as E<'close'>).role === 'release', doc: 'the iommufd holding the mock device is released' },
    lastUnbindAttached: {
      fn: (c, e) => (e as E<'close'>).role === 'file' && c.bound === 1 && (e as E<'close'>).attached,
      doc: 'the last bound device unbinds while attached',
    },
    unbindLastAttached: {
      fn: (c, e) => (e as E<'close'>).role === 'file' && (e as E<'close'>).attached && c.attached === 1,
      doc: 'an unbinding device was the last attached one: the group is blocked',
      clauses: ['GROUP.BLOCKED_WHEN_EMPTY'],
    },
    joinsOtherHwpt: {
      fn: (_c, e) => !(e as E<'VFIO_DEVICE_ATTACH_IOMMUFD_PT'>).callerAttached && (e as E<'VFIO_DEVICE_ATTACH_IOMMUFD_PT'>).otherHwpt,
      doc: 'a device of an attached group attaches to another HWPT than the group’s',
      clauses: ['GROUP.SAME_HWPT'],
    },
    callerAttached: {
      fn: (_c, e) => (e as E<'VFIO_DEVICE_ATTACH_IOMMUFD_PT'>).callerAttached,
      doc: 'the device is attached: a replace, which moves the whole group',
      clauses: ['GROUP.REPLACE_MOVES_GROUP'],
    },
    lastDetach: { fn: (c) => c.attached === 1, doc: 'the detached device was the last attached one', clauses: ['GROUP.BLOCKED_WHEN_EMPTY'] },
  },
  actions: {
    addDevice: (c) => ({ ...c, devices: c.devices + 1 }),
    removeDevice: (c) => ({ ...c, devices: c.devices - 1 }),
    mockCreated: () => ({ devices: 1, bound: 1, attached: 1 }),
    bind: (c) => ({ ...c, bound: c.bound + 1 }),
    unbind: (c, e) => ({ ...c, bound: c.bound - 1, attached: c.attached - ((e as E<'close'>).attached ? 1 : 0) }),
    attach: (c) => ({ ...c, attached: c.attached + 1 }),
    detach: (c) => ({ ...c, attached: c.attached - 1 }),
  },
  initial: 'absent',
  states: {
    absent: {
      on: {
        device_create: { target: 'unowned', actions: 'addDevice', meta: { clauses: ['GROUP.FIXED_AT_PROBE'] } },
        IOMMU_TEST_OP_MOCK_DOMAIN: { target: 'owned.attached', actions: 'mockCreated', meta: { clauses: ['GROUP.FIXED_AT_PROBE'] } },
        IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS: { target: 'owned.attached', actions: 'mockCreated', meta: { clauses: ['GROUP.FIXED_AT_PROBE'] } },
      },
    },
    unowned: {
      description: 'no device bound: DMA owned by the kernel',
      on: {
        device_create: { actions: 'addDevice', meta: { clauses: ['GROUP.FIXED_AT_PROBE'] } },
        device_remove: [{ guard: 'lastDeviceRemoved', target: 'gone', actions: 'removeDevice' }, { actions: 'removeDevice' }],
        VFIO_DEVICE_BIND_IOMMUFD: { target: 'owned.detached', actions: 'bind', meta: { clauses: ['GROUP.OWNERSHIP'] } },
      },
    },
    owned: {
      description: 'DMA ownership claimed by one iommufd',
      initial: 'detached',
      on: {
        device_create: { actions: 'addDevice', meta: { clauses: ['GROUP.FIXED_AT_PROBE'] } },
        device_remove: { actions: 'removeDevice' },
        VFIO_DEVICE_BIND_IOMMUFD: [
          { guard: 'ownedElsewhere', meta: { refuse: 'EPERM', clauses: ['GROUP.OWNERSHIP', 'VFIO_BIND.DMA_OWNER'] } },
          { actions: 'bind', meta: { clauses: ['GROUP.OWNERSHIP'] } },
        ],
        close: { guard: 'isCtxRelease', target: 'gone', meta: { clauses: ['RELEASE.LEAVES_FIRST'] } },
        IOMMU_DESTROY: { target: 'gone', meta: { clauses: ['MOCK_DOMAIN.DESTROY'] } },
      },
      states: {
        detached: {
          description: 'no device attached: blocked DMA',
          on: {
            VFIO_DEVICE_ATTACH_IOMMUFD_PT: { target: 'attached', actions: 'attach', meta: { clauses: ['GROUP.SAME_HWPT'] } },
            close: [
              { guard: 'lastUnbind', target: '#group.unowned', actions: 'unbind', meta: { clauses: ['GROUP.OWNERSHIP'] } },
              { guard: 'isFileRelease', actions: 'unbind' },
            ],
          },
        },
        attached: {
          description: 'attached to one HWPT',
          on: {
            VFIO_DEVICE_ATTACH_IOMMUFD_PT: [
              { guard: 'joinsOtherHwpt', meta: { refuse: 'EINVAL', clauses: ['GROUP.SAME_HWPT'] } },
              { guard: 'callerAttached', meta: { clauses: ['GROUP.REPLACE_MOVES_GROUP'] } },
              { actions: 'attach', meta: { clauses: ['GROUP.SAME_HWPT'] } },
            ],
            VFIO_DEVICE_DETACH_IOMMUFD_PT: [
              { guard: 'lastDetach', target: 'detached', actions: 'detach', meta: { clauses: ['GROUP.BLOCKED_WHEN_EMPTY'] } },
              { actions: 'detach' },
            ],
            close: [
              { guard: 'lastUnbindAttached', target: '#group.unowned', actions: 'unbind', meta: { clauses: ['GROUP.OWNERSHIP'] } },
              { guard: 'unbindLastAttached', target: 'detached', actions: 'unbind', meta: { clauses: ['GROUP.BLOCKED_WHEN_EMPTY'] } },
              { guard: 'isFileRelease', actions: 'unbind' },
            ],
          },
        },
      },
    },
    gone: { type: 'final', description: 'its last device went away' },
  },
});
