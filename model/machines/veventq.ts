/**
 * vEVENTQ (struct iommufd_veventq, IOMMUFD_OBJ_VEVENTQ, 7.3): a vIOMMU's
 * event queue of one type, read through its fd. One per (vIOMMU, type); it
 * holds the vIOMMU, and its open fd holds it. drivers/iommu/iommufd/eventq.c
 * (iommufd_veventq_alloc, iommufd_veventq_fops_read), driver.c
 * (iommufd_viommu_report_event).
 */
import { defineObjectMachine, type EventOf } from '../core/define.ts';

export interface VeventqContext {
  /** Events reported and not read (not bounded by the depth here: overflow is the suite's business). */
  readonly events: number;
}

export type VeventqEvent =
  | { readonly type: 'IOMMU_VEVENTQ_ALLOC'; readonly typeTaken: boolean }
  | { readonly type: 'IOMMU_TEST_OP_TRIGGER_VEVENT' }
  /** drained: the read returned data (the queue is read in whole events). */
  | { readonly type: 'read'; readonly drained: boolean }
  | { readonly type: 'IOMMU_DESTROY'; readonly users: number }
  | { readonly type: 'close'; readonly role: 'file' | 'release' };

type E<T extends VeventqEvent['type']> = EventOf<VeventqEvent, T>;

export const veventq = defineObjectMachine<VeventqContext, VeventqEvent>({
  id: 'veventq',
  title: 'vEVENTQ',
  kernel: 'struct iommufd_veventq (IOMMUFD_OBJ_VEVENTQ, 7.3) and its fd',
  description:
    'A vIOMMU event queue: at most one per vIOMMU and type (EEXIST), holding the vIOMMU. Its fd holds it: IOMMU_DESTROY fails with EBUSY until the fd is closed. Events the vIOMMU reports for its vDEVICEs queue here until read.',
  context: { events: 0 },
  events: ['IOMMU_VEVENTQ_ALLOC', 'IOMMU_TEST_OP_TRIGGER_VEVENT', 'read', 'IOMMU_DESTROY', 'close'],
  guards: {
    typeTaken: { fn: (_c, e) => (e as E<'IOMMU_VEVENTQ_ALLOC'>).typeTaken, doc: 'the vIOMMU already has a vEVENTQ of this type', clauses: ['VEVENTQ.ONE_PER_TYPE'] },
    hasUsers: { fn: (_c, e) => (e as E<'IOMMU_DESTROY'>).users > 0, doc: 'its fd is open', clauses: ['VEVENTQ.FD_HOLDS', 'DESTROY.EBUSY'] },
    isFileClose: { fn: (_c, e) => (e as E<'close'>).role === 'file', doc: 'its fd is closed' },
    isRelease: { fn: (_c, e) => (e as E<'close'>).role === 'release', doc: 'the iommufd is released' },
  },
  actions: {
    report: (c) => ({ events: c.events + 1 }),
    drain: (c, e) => ((e as E<'read'>).drained ? { events: 0 } : c),
  },
  initial: 'absent',
  states: {
    absent: {
      on: {
        IOMMU_VEVENTQ_ALLOC: [
          { guard: 'typeTaken', meta: { refuse: 'EEXIST', clauses: ['VEVENTQ.ONE_PER_TYPE'] } },
          { target: 'open', meta: { clauses: ['VEVENTQ.HOLDS_VIOMMU'] } },
        ],
      },
    },
    open: {
      description: 'its fd is open',
      on: {
        IOMMU_TEST_OP_TRIGGER_VEVENT: { actions: 'report', meta: { clauses: ['VEVENTQ.DELIVERY'] } },
        read: { actions: 'drain', meta: { clauses: ['VEVENTQ.DELIVERY'] } },
        IOMMU_DESTROY: { guard: 'hasUsers', meta: { refuse: 'EBUSY', clauses: ['VEVENTQ.FD_HOLDS', 'DESTROY.EBUSY'] } },
        // Its fd holds the iommufd too: the context cannot be released while the fd is open.
        close: { guard: 'isFileClose', target: 'closed', meta: { clauses: ['VEVENTQ.FD_HOLDS'] } },
      },
    },
    closed: {
      description: 'its fd is closed: IOMMU_DESTROY removes it',
      on: {
        IOMMU_TEST_OP_TRIGGER_VEVENT: { actions: 'report', meta: { clauses: ['VEVENTQ.DELIVERY'] } },
        IOMMU_DESTROY: { target: 'destroyed', meta: { clauses: ['VEVENTQ.HOLDS_VIOMMU'] } },
        close: { guard: 'isRelease', target: 'destroyed', meta: { clauses: ['RELEASE.LEAVES_FIRST'] } },
      },
    },
    destroyed: { type: 'final' },
  },
});
