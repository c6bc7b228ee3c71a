/**
 * Nested HWPT (struct iommufd_hwpt_nested, IOMMUFD_OBJ_HWPT_NESTED): a
 * user-managed stage-1 table on top of a NEST_PARENT paging HWPT, allocated
 * from the parent itself or (7.3) from a vIOMMU on it. It holds its parent (or
 * vIOMMU) and, with FAULT_ID_VALID, its fault queue. drivers/iommu/iommufd/
 * hw_pagetable.c (iommufd_hwpt_nested_alloc, iommufd_viommu_alloc_hwpt_nested,
 * iommufd_hwpt_invalidate).
 */
import { defineObjectMachine, type EventOf } from '../core/define.ts';
import { ATTACH_EVENTS, type AttachRole } from './hwpt-paging.ts';

export interface HwptNestedContext {
  /** Allocated from a vIOMMU (7.3) rather than directly from a paging parent. */
  readonly viommu: boolean;
  readonly pasidCompat: boolean;
  readonly fault: boolean;
}

export type HwptNestedEvent =
  | {
      readonly type: 'IOMMU_HWPT_ALLOC';
      readonly from: 'paging' | 'viommu';
      /** from paging: the parent is an automatic HWPT or lacks NEST_PARENT. */
      readonly parentAuto: boolean;
      readonly parentNestParent: boolean;
      /** from viommu: the device sits behind the vIOMMU's physical IOMMU. */
      readonly sameIommu: boolean;
      readonly pasid: boolean;
      readonly fault: boolean;
    }
  | {
      readonly type: (typeof ATTACH_EVENTS)[number];
      readonly role: AttachRole;
      /** target and vIOMMU-backed: the device has a vDEVICE in that vIOMMU (mock_domain_nop_attach). */
      readonly deviceHasVdevice: boolean;
      readonly lastUser: boolean;
    }
  | { readonly type: 'VFIO_DEVICE_DETACH_IOMMUFD_PT' | 'IOMMU_TEST_OP_PASID_DETACH'; readonly role: 'old'; readonly lastUser: boolean }
  | { readonly type: 'IOMMU_DESTROY'; readonly role: 'self' | 'old'; readonly users: number; readonly lastUser: boolean }
  | { readonly type: 'close'; readonly role: 'release' | 'old'; readonly lastUser: boolean }
  | { readonly type: 'IOMMU_HWPT_INVALIDATE' };

type E<T extends HwptNestedEvent['type']> = EventOf<HwptNestedEvent, T>;
const role = (e: HwptNestedEvent): string | undefined => (e as { role?: string }).role;

const NEEDS_VDEVICE = { meta: { refuse: 'ENOENT', clauses: ['VDEVICE.NESTED_ATTACH_NEEDS_VDEVICE'] }, guard: 'viommuWithoutVdevice' } as const;

export const hwptNested = defineObjectMachine<HwptNestedContext, HwptNestedEvent>({
  id: 'hwpt_nested',
  title: 'Nested HWPT',
  kernel: 'struct iommufd_hwpt_nested (IOMMUFD_OBJ_HWPT_NESTED)',
  description:
    'A stage-1 table the user manages, nested on a NEST_PARENT paging HWPT (never on an automatic one, never on another nested one) or allocated from a vIOMMU on such a parent. It holds its parent or vIOMMU (their IOMMU_DESTROY fails with EBUSY) and is destroyed by IOMMU_DESTROY once no device or PASID is attached. IOMMU_HWPT_INVALIDATE is accepted here (entry errors are the driver’s).',
  context: { viommu: false, pasidCompat: false, fault: false },
  events: ['IOMMU_HWPT_ALLOC', ...ATTACH_EVENTS, 'VFIO_DEVICE_DETACH_IOMMUFD_PT', 'IOMMU_TEST_OP_PASID_DETACH', 'IOMMU_DESTROY', 'close', 'IOMMU_HWPT_INVALIDATE'],
  guards: {
    parentIsAuto: {
      fn: (_c, e) => (e as E<'IOMMU_HWPT_ALLOC'>).from === 'paging' && (e as E<'IOMMU_HWPT_ALLOC'>).parentAuto,
      doc: 'the parent is an automatic HWPT',
      clauses: ['HWPT_ALLOC.NESTED_PARENT', 'NESTING.PARENT_MANUAL_NEST_PARENT'],
    },
    parentNotNestParent: {
      fn: (_c, e) => (e as E<'IOMMU_HWPT_ALLOC'>).from === 'paging' && !(e as E<'IOMMU_HWPT_ALLOC'>).parentNestParent,
      doc: 'the parent was allocated without IOMMU_HWPT_ALLOC_NEST_PARENT',
      clauses: ['HWPT_ALLOC.NESTED_PARENT', 'NESTING.PARENT_MANUAL_NEST_PARENT'],
    },
    otherIommu: {
      fn: (_c, e) => (e as E<'IOMMU_HWPT_ALLOC'>).from === 'viommu' && !(e as E<'IOMMU_HWPT_ALLOC'>).sameIommu,
      doc: 'the device is behind another physical IOMMU than the vIOMMU',
      clauses: ['VIOMMU.SAME_IOMMU'],
    },
    viommuWithoutVdevice: {
      fn: (c, e) => role(e) === 'target' && c.viommu && !(e as E<'IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE'>).deviceHasVdevice,
      doc: 'mock driver (attach_dev): a device’s RID attaching to a vIOMMU-backed nested HWPT needs a vDEVICE in that vIOMMU',
      clauses: ['VDEVICE.NESTED_ATTACH_NEEDS_VDEVICE'],
    },
    isTarget: { fn: (_c, e) => role(e) === 'target', doc: 'a device (or PASID) attaches to this HWPT' },
    isOld: { fn: (_c, e) => role(e) === 'old', doc: 'a device (or PASID) leaves this HWPT' },
    hasUsers: {
      fn: (_c, e) => (e as E<'IOMMU_DESTROY'>).users > 0,
      doc: 'attached devices or PASIDs hold it',
      clauses: ['DESTROY.EBUSY', 'NESTING.CHILD_DESTROY'],
    },
  },
  actions: {
    record: (_c, e) => {
      const a = e as E<'IOMMU_HWPT_ALLOC'>;
      return { viommu: a.from === 'viommu', pasidCompat: a.pasid, fault: a.fault };
    },
  },
  initial: 'absent',
  states: {
    absent: {
      on: {
        IOMMU_HWPT_ALLOC: [
          { guard: 'parentIsAuto', meta: { refuse: 'EINVAL', clauses: ['HWPT_ALLOC.NESTED_PARENT', 'NESTING.PARENT_MANUAL_NEST_PARENT'] } },
          { guard: 'parentNotNestParent', meta: { refuse: 'EINVAL', clauses: ['HWPT_ALLOC.NESTED_PARENT', 'NESTING.PARENT_MANUAL_NEST_PARENT'] } },
          { guard: 'otherIommu', meta: { refuse: 'EINVAL', clauses: ['VIOMMU.SAME_IOMMU'] } },
          { target: 'live', actions: 'record', meta: { clauses: ['NESTING.CHILD_HOLDS_PARENT', 'VIOMMU.NESTED_FROM_VIOMMU'] } },
        ],
      },
    },
    live: {
      on: {
        IOMMU_TEST_OP_MOCK_DOMAIN: [NEEDS_VDEVICE, { guard: 'isTarget' }],
        IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS: [NEEDS_VDEVICE, { guard: 'isTarget' }],
        IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE: [NEEDS_VDEVICE, { guard: 'isTarget' }, { guard: 'isOld' }],
        VFIO_DEVICE_ATTACH_IOMMUFD_PT: [NEEDS_VDEVICE, { guard: 'isTarget' }, { guard: 'isOld' }],
        // set_dev_pasid does not look for a vDEVICE: only the RID's attach_dev does.
        IOMMU_TEST_OP_PASID_ATTACH: { guard: 'isTarget' },
        IOMMU_TEST_OP_PASID_REPLACE: [{ guard: 'isTarget' }, { guard: 'isOld' }],
        VFIO_DEVICE_DETACH_IOMMUFD_PT: { guard: 'isOld' },
        IOMMU_TEST_OP_PASID_DETACH: { guard: 'isOld' },
        IOMMU_DESTROY: [
          { guard: 'isOld' },
          { guard: 'hasUsers', meta: { refuse: 'EBUSY', clauses: ['DESTROY.EBUSY', 'NESTING.CHILD_DESTROY'] } },
          { target: 'destroyed', meta: { clauses: ['NESTING.CHILD_DESTROY'] } },
        ],
        close: [{ guard: 'isOld' }, { target: 'destroyed', meta: { clauses: ['RELEASE.LEAVES_FIRST'] } }],
        IOMMU_HWPT_INVALIDATE: { meta: { clauses: ['NESTING.INVALIDATE'] } },
      },
    },
    destroyed: { type: 'final' },
  },
});
