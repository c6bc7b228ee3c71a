/**
 * vIOMMU (struct iommufd_viommu, IOMMUFD_OBJ_VIOMMU, 7.3): the user's view of
 * one physical IOMMU instance, on a NEST_PARENT paging HWPT it holds. Its
 * children — vDEVICEs, nested HWPTs allocated from it, vEVENTQs and HW queues —
 * hold it. drivers/iommu/iommufd/viommu.c (iommufd_viommu_alloc_ioctl,
 * iommufd_viommu_destroy), hw_pagetable.c (iommufd_hwpt_invalidate).
 */
import { defineObjectMachine, type EventOf } from '../core/define.ts';

export type ViommuContext = Record<string, never>;

export type ViommuEvent =
  | { readonly type: 'IOMMU_VIOMMU_ALLOC'; readonly parentNestParent: boolean }
  | { readonly type: 'IOMMU_HWPT_INVALIDATE' }
  | { readonly type: 'IOMMU_DESTROY'; readonly users: number }
  | { readonly type: 'close' };

type E<T extends ViommuEvent['type']> = EventOf<ViommuEvent, T>;

export const viommu = defineObjectMachine<ViommuContext, ViommuEvent>({
  id: 'viommu',
  title: 'vIOMMU',
  kernel: 'struct iommufd_viommu (IOMMUFD_OBJ_VIOMMU, 7.3)',
  description:
    'A virtual IOMMU on a NEST_PARENT paging HWPT (any other parent: EINVAL), which it holds. vDEVICEs, nested HWPTs allocated from it, vEVENTQs and HW queues hold it in turn: IOMMU_DESTROY fails with EBUSY while any exists. IOMMU_HWPT_INVALIDATE accepts a vIOMMU id (the driver then checks each entry).',
  context: {},
  events: ['IOMMU_VIOMMU_ALLOC', 'IOMMU_HWPT_INVALIDATE', 'IOMMU_DESTROY', 'close'],
  guards: {
    parentNotNestParent: {
      fn: (_c, e) => !(e as E<'IOMMU_VIOMMU_ALLOC'>).parentNestParent,
      doc: 'the paging HWPT was allocated without IOMMU_HWPT_ALLOC_NEST_PARENT',
      clauses: ['VIOMMU.NEST_PARENT'],
    },
    hasUsers: {
      fn: (_c, e) => (e as E<'IOMMU_DESTROY'>).users > 0,
      doc: 'a vDEVICE, nested HWPT, vEVENTQ or HW queue holds it',
      clauses: ['VIOMMU.CHILDREN_HOLD', 'DESTROY.EBUSY'],
    },
  },
  initial: 'absent',
  states: {
    absent: {
      on: {
        IOMMU_VIOMMU_ALLOC: [
          { guard: 'parentNotNestParent', meta: { refuse: 'EINVAL', clauses: ['VIOMMU.NEST_PARENT'] } },
          { target: 'live', meta: { clauses: ['VIOMMU.HOLDS_PARENT'] } },
        ],
      },
    },
    live: {
      on: {
        IOMMU_HWPT_INVALIDATE: { meta: { clauses: ['VIOMMU.INVALIDATE'] } },
        IOMMU_DESTROY: [
          { guard: 'hasUsers', meta: { refuse: 'EBUSY', clauses: ['VIOMMU.CHILDREN_HOLD', 'DESTROY.EBUSY'] } },
          { target: 'destroyed', meta: { clauses: ['VIOMMU.HOLDS_PARENT'] } },
        ],
        close: { target: 'destroyed', meta: { clauses: ['RELEASE.LEAVES_FIRST'] } },
      },
    },
    destroyed: { type: 'final' },
  },
});
