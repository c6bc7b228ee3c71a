/**
 * HW queue (struct iommufd_hw_queue, IOMMUFD_OBJ_HW_QUEUE, 7.3): a guest
 * command queue the hardware reads directly, in guest memory the vIOMMU's
 * parent IOAS maps. It holds its vIOMMU and locks that IOAS range against
 * unmapping (the IOAS machine counts the lock). The mock driver numbers queues
 * 0..IOMMU_TEST_HW_QUEUE_MAX-1, each after the previous one, which it then
 * depends on. drivers/iommu/iommufd/viommu.c (iommufd_hw_queue_alloc_ioctl,
 * iommufd_hw_queue_destroy), selftest.c (mock_hw_queue_init_phys).
 */
import { defineObjectMachine, type EventOf } from '../core/define.ts';

export type HwQueueContext = Record<string, never>;

export type HwQueueEvent =
  | {
      readonly type: 'IOMMU_HW_QUEUE_ALLOC';
      /** mock: index >= IOMMU_TEST_HW_QUEUE_MAX. */
      readonly indexOutOfRange: boolean;
      /** mock: the vIOMMU already has a queue at this index. */
      readonly indexTaken: boolean;
      /** mock: index > 0 and no queue at index - 1. */
      readonly previousMissing: boolean;
    }
  /** users: a later queue depends on this one. */
  | { readonly type: 'IOMMU_DESTROY'; readonly users: number }
  | { readonly type: 'close' };

type E<T extends HwQueueEvent['type']> = EventOf<HwQueueEvent, T>;

export const hwQueue = defineObjectMachine<HwQueueContext, HwQueueEvent>({
  id: 'hw_queue',
  title: 'HW queue',
  kernel: 'struct iommufd_hw_queue (IOMMUFD_OBJ_HW_QUEUE, 7.3)',
  description:
    'A hardware-read guest queue of a vIOMMU. Its memory must be mapped in the parent IOAS (ENOENT otherwise) and stays locked there (IOMMU_IOAS_UNMAP of it: EBUSY) until the queue is destroyed. The mock driver takes indexes in order: an index already used is EEXIST, one whose predecessor is missing is EIO, and a queue with a successor is held by it (IOMMU_DESTROY: EBUSY).',
  context: {},
  events: ['IOMMU_HW_QUEUE_ALLOC', 'IOMMU_DESTROY', 'close'],
  guards: {
    indexOutOfRange: { fn: (_c, e) => (e as E<'IOMMU_HW_QUEUE_ALLOC'>).indexOutOfRange, doc: 'mock: index >= IOMMU_TEST_HW_QUEUE_MAX', clauses: ['HW_QUEUE.MOCK_INDEX'] },
    indexTaken: { fn: (_c, e) => (e as E<'IOMMU_HW_QUEUE_ALLOC'>).indexTaken, doc: 'mock: a queue already uses this index', clauses: ['HW_QUEUE.MOCK_INDEX'] },
    previousMissing: { fn: (_c, e) => (e as E<'IOMMU_HW_QUEUE_ALLOC'>).previousMissing, doc: 'mock: the previous index has no queue', clauses: ['HW_QUEUE.MOCK_INDEX'] },
    hasUsers: { fn: (_c, e) => (e as E<'IOMMU_DESTROY'>).users > 0, doc: 'a later queue depends on it', clauses: ['HW_QUEUE.DEPENDENCY', 'DESTROY.EBUSY'] },
  },
  initial: 'absent',
  states: {
    absent: {
      on: {
        IOMMU_HW_QUEUE_ALLOC: [
          { guard: 'indexOutOfRange', meta: { refuse: 'EINVAL', clauses: ['HW_QUEUE.MOCK_INDEX'] } },
          { guard: 'indexTaken', meta: { refuse: 'EEXIST', clauses: ['HW_QUEUE.MOCK_INDEX'] } },
          { guard: 'previousMissing', meta: { refuse: 'EIO', clauses: ['HW_QUEUE.MOCK_INDEX'] } },
          { target: 'live', meta: { clauses: ['HW_QUEUE.HOLDS_VIOMMU', 'HW_QUEUE.LOCKS_AREA'] } },
        ],
      },
    },
    live: {
      on: {
        IOMMU_DESTROY: [
          { guard: 'hasUsers', meta: { refuse: 'EBUSY', clauses: ['HW_QUEUE.DEPENDENCY', 'DESTROY.EBUSY'] } },
          { target: 'destroyed', meta: { clauses: ['HW_QUEUE.HOLDS_VIOMMU', 'HW_QUEUE.LOCKS_AREA'] } },
        ],
        close: { target: 'destroyed', meta: { clauses: ['RELEASE.LEAVES_FIRST'] } },
      },
    },
    destroyed: { type: 'final' },
  },
});
