/**
 * vDEVICE (struct iommufd_vdevice, IOMMUFD_OBJ_VDEVICE, 7.3): a device as a
 * vIOMMU sees it, named by its virtual id (vRID). At most one per device, a
 * virt_id at most once per vIOMMU. It holds the vIOMMU; when its device goes
 * away first, the kernel destroys it and leaves a tombstone in the id table:
 * the id answers ENOENT and is not reused until the iommufd is released.
 * drivers/iommu/iommufd/viommu.c (iommufd_vdevice_alloc_ioctl,
 * iommufd_vdevice_destroy), device.c (iommufd_device_remove_vdev), main.c
 * (iommufd_object_tombstone_user).
 */
import { defineObjectMachine, type EventOf } from '../core/define.ts';

export type VdeviceContext = Record<string, never>;

export type VdeviceEvent =
  | {
      readonly type: 'IOMMU_VDEVICE_ALLOC';
      /** The device is behind another physical IOMMU than the vIOMMU. */
      readonly otherIommu: boolean;
      readonly deviceHasVdevice: boolean;
      readonly virtIdTaken: boolean;
    }
  /** role self: DESTROY of the vDEVICE id; device: its device is destroyed (mock) or unbound. */
  | { readonly type: 'IOMMU_DESTROY'; readonly role: 'self' | 'device'; readonly users: number }
  | { readonly type: 'close'; readonly role: 'file' | 'release' };

type E<T extends VdeviceEvent['type']> = EventOf<VdeviceEvent, T>;

export const vdevice = defineObjectMachine<VdeviceContext, VdeviceEvent>({
  id: 'vdevice',
  title: 'vDEVICE',
  kernel: 'struct iommufd_vdevice (IOMMUFD_OBJ_VDEVICE, 7.3)',
  description:
    'A device’s identity (virtual id) in a vIOMMU. IOMMU_VDEVICE_ALLOC refuses a device behind another IOMMU (EINVAL), a device that already has one or a virt_id already used in the vIOMMU (EEXIST). It holds its vIOMMU. IOMMU_DESTROY removes it; if its device goes away first (the mock device’s selftest object is destroyed, or the VFIO file is released) it is destroyed and tombstoned: IOMMU_DESTROY of the id then fails with ENOENT and the id stays unused until the iommufd is released.',
  context: {},
  events: ['IOMMU_VDEVICE_ALLOC', 'IOMMU_DESTROY', 'close'],
  guards: {
    otherIommu: { fn: (_c, e) => (e as E<'IOMMU_VDEVICE_ALLOC'>).otherIommu, doc: 'the device is behind another physical IOMMU', clauses: ['VIOMMU.SAME_IOMMU'] },
    deviceHasVdevice: {
      fn: (_c, e) => (e as E<'IOMMU_VDEVICE_ALLOC'>).deviceHasVdevice,
      doc: 'the device already has a vDEVICE',
      clauses: ['VDEVICE.ONE_PER_DEVICE'],
    },
    virtIdTaken: {
      fn: (_c, e) => (e as E<'IOMMU_VDEVICE_ALLOC'>).virtIdTaken,
      doc: 'the virt_id is already used in this vIOMMU',
      clauses: ['VDEVICE.VIRT_ID_UNIQUE'],
    },
    ofItsDevice: {
      fn: (_c, e) => (e as E<'IOMMU_DESTROY'>).role === 'device' || (e as E<'close'>).role === 'file',
      doc: 'its device goes away (selftest object destroyed, VFIO file released)',
      clauses: ['VDEVICE.TOMBSTONE'],
    },
    isRelease: { fn: (_c, e) => (e as E<'close'>).role === 'release', doc: 'the iommufd is released' },
  },
  initial: 'absent',
  states: {
    absent: {
      on: {
        IOMMU_VDEVICE_ALLOC: [
          { guard: 'otherIommu', meta: { refuse: 'EINVAL', clauses: ['VIOMMU.SAME_IOMMU'] } },
          { guard: 'deviceHasVdevice', meta: { refuse: 'EEXIST', clauses: ['VDEVICE.ONE_PER_DEVICE'] } },
          { guard: 'virtIdTaken', meta: { refuse: 'EEXIST', clauses: ['VDEVICE.VIRT_ID_UNIQUE'] } },
          { target: 'live', meta: { clauses: ['VDEVICE.HOLDS_VIOMMU'] } },
        ],
      },
    },
    live: {
      on: {
        IOMMU_DESTROY: [
          { guard: 'ofItsDevice', target: 'tombstone', meta: { clauses: ['VDEVICE.TOMBSTONE'] } },
          { target: 'destroyed', meta: { clauses: ['VDEVICE.HOLDS_VIOMMU'] } },
        ],
        close: [
          { guard: 'ofItsDevice', target: 'tombstone', meta: { clauses: ['VDEVICE.TOMBSTONE'] } },
          { guard: 'isRelease', target: 'destroyed', meta: { clauses: ['RELEASE.LEAVES_FIRST'] } },
        ],
      },
    },
    tombstone: {
      description: 'destroyed with its device; the id is reserved and answers ENOENT',
      on: {
        IOMMU_DESTROY: { meta: { refuse: 'ENOENT', clauses: ['VDEVICE.TOMBSTONE'] } },
        close: { guard: 'isRelease', target: 'destroyed', meta: { clauses: ['VDEVICE.TOMBSTONE'] } },
      },
    },
    destroyed: { type: 'final' },
  },
});
