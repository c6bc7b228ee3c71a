/**
 * Fault queues (IOPF): the FAULT object and its fd, the HWPTs that deliver to
 * it, delivery, responses and the automatic answers on detach.
 * drivers/iommu/iommufd/eventq.c (7.3), fault.c (6.12), hw_pagetable.c,
 * device.c, selftest.c.
 */
import { BOTH, type Clause } from './types.ts';

const EQ = 'drivers/iommu/iommufd/eventq.c';

export const clauses: Clause[] = [
  {
    id: 'FAULT_QUEUE_ALLOC.FLAGS',
    kind: 'errno',
    command: 'IOMMU_FAULT_QUEUE_ALLOC',
    errno: 'EOPNOTSUPP',
    statement: 'Non-zero flags fail with EOPNOTSUPP.',
    source: { file: EQ, function: 'iommufd_fault_alloc' },
    profiles: BOTH,
    checks: ['machines.kernel-replay.linux-6.12', 'machines.kernel-replay.linux-7.3'],
  },
  {
    id: 'FAULT.ALLOC',
    kind: 'lifecycle',
    command: 'IOMMU_FAULT_QUEUE_ALLOC',
    statement: 'IOMMU_FAULT_QUEUE_ALLOC creates a fault object and an fd for it; the fd holds the object and the iommufd.',
    source: { file: EQ, function: 'iommufd_fault_alloc' },
    profiles: BOTH,
    decides: [],
    checks: ['machines.fault.lifecycle', 'machines.kernel-replay.linux-6.12'],
  },
  {
    id: 'FAULT.FD_AND_HWPTS_HOLD',
    kind: 'lifecycle',
    statement: 'The fault fd and every HWPT allocated with FAULT_ID_VALID and the fault’s id hold it: IOMMU_DESTROY of the fault fails with EBUSY until the fd is closed and those HWPTs are destroyed.',
    source: { file: EQ, function: 'iommufd_fault_destroy' },
    profiles: BOTH,
    decides: ['EBUSY'],
    events: ['IOMMU_DESTROY', 'close'],
    checks: ['machines.fault.lifecycle', 'machines.kernel-replay.linux-6.12', 'machines.kernel-replay.linux-7.3'],
  },
  {
    id: 'FAULT.HWPT_KINDS',
    kind: 'lifecycle',
    command: 'IOMMU_HWPT_ALLOC',
    statement: '6.12 delivers faults from nested HWPTs only: FAULT_ID_VALID on a paging HWPT fails with EOPNOTSUPP (not a flag of iommufd_hwpt_paging_alloc); 7.3 accepts it on paging HWPTs too, except with NEST_PARENT.',
    source: { file: 'drivers/iommu/iommufd/hw_pagetable.c', function: 'iommufd_hwpt_paging_alloc' },
    profiles: BOTH,
    decides: ['EOPNOTSUPP'],
    checks: ['machines.fault.lifecycle'],
  },
  {
    id: 'FAULT.TRIGGER_IOPF',
    kind: 'lifecycle',
    command: 'IOMMU_TEST_CMD',
    events: ['IOMMU_TEST_OP_TRIGGER_IOPF'],
    statement: 'IOMMU_TEST_OP_TRIGGER_IOPF needs a mock device (another DEVICE: EINVAL); the page request goes to the HWPT its RID (or the PASID) is attached to.',
    source: { file: 'drivers/iommu/iommufd/selftest.c', function: 'iommufd_test_trigger_iopf' },
    profiles: BOTH,
    decides: ['EINVAL'],
    checks: ['machines.fault.lifecycle'],
  },
  {
    id: 'FAULT.DELIVERY',
    kind: 'lifecycle',
    statement: 'A page request reported through a HWPT that delivers faults queues on its fault object until read() hands it out (whole groups, in order); read of an empty queue returns 0.',
    source: { file: EQ, function: 'iommufd_fault_iopf_handler' },
    profiles: BOTH,
    decides: [],
    events: ['IOMMU_TEST_OP_TRIGGER_IOPF', 'read'],
    checks: ['machines.fault.lifecycle', 'machines.kernel-replay.linux-7.3'],
  },
  {
    id: 'FAULT.RESPONSE',
    kind: 'lifecycle',
    statement: 'write() answers fault groups that were read, by cookie; a group is answered once.',
    source: { file: EQ, function: 'iommufd_fault_fops_write' },
    profiles: BOTH,
    decides: [],
    events: ['write'],
    checks: ['machines.fault.lifecycle'],
  },
  {
    id: 'FAULT.AUTO_RESPONSE',
    kind: 'lifecycle',
    statement: 'Detaching or replacing a device (or PASID) away from a HWPT that delivers faults answers its pending fault groups with IOMMUFD_PAGE_RESP_INVALID.',
    source: { file: EQ, function: 'iommufd_auto_response_faults' },
    profiles: BOTH,
    decides: [],
    events: ['VFIO_DEVICE_DETACH_IOMMUFD_PT', 'VFIO_DEVICE_ATTACH_IOMMUFD_PT', 'IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE', 'IOMMU_TEST_OP_PASID_REPLACE', 'IOMMU_TEST_OP_PASID_DETACH', 'IOMMU_DESTROY', 'close'],
    checks: ['machines.fault.lifecycle'],
  },
];
