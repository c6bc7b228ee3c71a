/**
 * Fault queue (struct iommufd_fault, IOMMUFD_OBJ_FAULT): the object behind a
 * fault fd. IOMMU_FAULT_QUEUE_ALLOC returns its id and an fd; the open fd and
 * every HWPT allocated with its id hold it, so IOMMU_DESTROY succeeds only
 * after the fd is closed and those HWPTs are gone. Page requests reported to a
 * HWPT that delivers to it queue here; read() hands them out, write() answers
 * them, and detaching or replacing a device away answers its pending ones
 * (IOMMUFD_PAGE_RESP_INVALID). drivers/iommu/iommufd/eventq.c (7.3; fault.c in
 * 6.12): iommufd_fault_alloc, iommufd_fault_fops_read/write/release,
 * iommufd_auto_response_faults.
 */
import { defineObjectMachine, type EventOf } from '../core/define.ts';

export interface FaultContext {
  /** Fault groups delivered and not yet read. */
  readonly queued: number;
  /** Fault groups read and not yet answered. */
  readonly awaiting: number;
}

export type FaultEvent =
  | { readonly type: 'IOMMU_FAULT_QUEUE_ALLOC' }
  | { readonly type: 'IOMMU_TEST_OP_TRIGGER_IOPF' }
  /** groups: fault groups the read returned (the observed byte count / 40, one fault per selftest group). */
  | { readonly type: 'read'; readonly groups: number }
  /** answers: responses the write consumed (the observed byte count / 8). */
  | { readonly type: 'write'; readonly answers: number }
  /** A device left a HWPT delivering to this queue: its pending faults are answered. */
  | { readonly type: 'VFIO_DEVICE_DETACH_IOMMUFD_PT' | 'VFIO_DEVICE_ATTACH_IOMMUFD_PT' | 'IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE' | 'IOMMU_TEST_OP_PASID_REPLACE' | 'IOMMU_TEST_OP_PASID_DETACH' }
  | { readonly type: 'IOMMU_DESTROY'; readonly role: 'self' | 'detach'; readonly users: number }
  /** role file: its fd is closed; release: the iommufd is released; detach: a device left (close of its file). */
  | { readonly type: 'close'; readonly role: 'file' | 'release' | 'detach' };

type E<T extends FaultEvent['type']> = EventOf<FaultEvent, T>;
const AUTO_RESPONSE = { target: 'empty', actions: 'answerAll', meta: { clauses: ['FAULT.AUTO_RESPONSE'] } } as const;

export const fault = defineObjectMachine<FaultContext, FaultEvent>({
  id: 'fault',
  title: 'Fault queue',
  kernel: 'struct iommufd_fault (IOMMUFD_OBJ_FAULT) and its fd',
  description:
    'The page-request queue of fault-capable HWPTs. Its fd and every HWPT allocated with FAULT_ID_VALID and its id hold it: IOMMU_DESTROY fails with EBUSY until the fd is closed and those HWPTs are destroyed. Faults reported to such a HWPT queue here until read, then wait for an answer written back by cookie; a device leaving the HWPT answers its pending faults.',
  context: { queued: 0, awaiting: 0 },
  events: [
    'IOMMU_FAULT_QUEUE_ALLOC',
    'IOMMU_TEST_OP_TRIGGER_IOPF',
    'read',
    'write',
    'VFIO_DEVICE_DETACH_IOMMUFD_PT',
    'VFIO_DEVICE_ATTACH_IOMMUFD_PT',
    'IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE',
    'IOMMU_TEST_OP_PASID_REPLACE',
    'IOMMU_TEST_OP_PASID_DETACH',
    'IOMMU_DESTROY',
    'close',
  ],
  guards: {
    hasUsers: {
      fn: (_c, e) => (e as E<'IOMMU_DESTROY'>).users > 0,
      doc: 'its fd is open or a HWPT delivers to it',
      clauses: ['FAULT.FD_AND_HWPTS_HOLD', 'DESTROY.EBUSY'],
    },
    isDetach: { fn: (_c, e) => (e as E<'IOMMU_DESTROY'>).role === 'detach' || (e as E<'close'>).role === 'detach', doc: 'a device leaves a HWPT that delivers here' },
    isFileClose: { fn: (_c, e) => (e as E<'close'>).role === 'file', doc: 'its fd is closed' },
    isRelease: { fn: (_c, e) => (e as E<'close'>).role === 'release', doc: 'the iommufd is released' },
    allAnswered: { fn: (c, e) => (e as E<'write'>).answers >= c.awaiting && c.queued === 0, doc: 'the write answered every group read' },
  },
  actions: {
    deliver: (c) => ({ ...c, queued: c.queued + 1 }),
    take: (c, e) => {
      const n = Math.min(c.queued, (e as E<'read'>).groups);
      return { queued: c.queued - n, awaiting: c.awaiting + n };
    },
    answer: (c, e) => ({ ...c, awaiting: Math.max(0, c.awaiting - (e as E<'write'>).answers) }),
    answerAll: () => ({ queued: 0, awaiting: 0 }),
  },
  initial: 'absent',
  states: {
    absent: {
      on: { IOMMU_FAULT_QUEUE_ALLOC: { target: 'live', meta: { clauses: ['FAULT.ALLOC'] } } },
    },
    live: {
      type: 'parallel',
      on: {
        IOMMU_DESTROY: [
          { guard: 'isDetach' },
          { guard: 'hasUsers', meta: { refuse: 'EBUSY', clauses: ['FAULT.FD_AND_HWPTS_HOLD', 'DESTROY.EBUSY'] } },
          { target: 'destroyed', meta: { clauses: ['FAULT.FD_AND_HWPTS_HOLD'] } },
        ],
        close: { guard: 'isRelease', target: 'destroyed', meta: { clauses: ['RELEASE.LEAVES_FIRST'] } },
      },
      states: {
        fd: {
          initial: 'open',
          states: {
            open: { description: 'its fd is open (and holds it)', on: { close: { guard: 'isFileClose', target: 'closed', meta: { clauses: ['FAULT.FD_AND_HWPTS_HOLD'] } } } },
            closed: { description: 'its fd is closed' },
          },
        },
        queue: {
          initial: 'empty',
          states: {
            empty: {
              description: 'no fault pending',
              on: { IOMMU_TEST_OP_TRIGGER_IOPF: { target: 'pending', actions: 'deliver', meta: { clauses: ['FAULT.DELIVERY'] } }, read: { meta: { clauses: ['FAULT.DELIVERY'] } } },
            },
            pending: {
              description: 'faults queued or read and not answered',
              on: {
                IOMMU_TEST_OP_TRIGGER_IOPF: { actions: 'deliver', meta: { clauses: ['FAULT.DELIVERY'] } },
                read: { actions: 'take', meta: { clauses: ['FAULT.DELIVERY'] } },
                write: [
                  { guard: 'allAnswered', target: 'empty', actions: 'answer', meta: { clauses: ['FAULT.RESPONSE'] } },
                  { actions: 'answer', meta: { clauses: ['FAULT.RESPONSE'] } },
                ],
                VFIO_DEVICE_DETACH_IOMMUFD_PT: AUTO_RESPONSE,
                VFIO_DEVICE_ATTACH_IOMMUFD_PT: AUTO_RESPONSE,
                IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE: AUTO_RESPONSE,
                IOMMU_TEST_OP_PASID_REPLACE: AUTO_RESPONSE,
                IOMMU_TEST_OP_PASID_DETACH: AUTO_RESPONSE,
                IOMMU_DESTROY: { guard: 'isDetach', ...AUTO_RESPONSE },
                close: { guard: 'isDetach', ...AUTO_RESPONSE },
              },
            },
          },
        },
      },
    },
    destroyed: { type: 'final' },
  },
});
