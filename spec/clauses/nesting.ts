/**
 * Nested translation (seed 001): NEST_PARENT paging HWPTs and the nested
 * HWPTs on them, their references, attach and invalidation.
 * drivers/iommu/iommufd/hw_pagetable.c (iommufd_hwpt_nested_alloc,
 * iommufd_hwpt_nested_destroy, iommufd_hwpt_invalidate), device.c.
 */
import { BOTH, type Clause } from './types.ts';

const HWPT = 'drivers/iommu/iommufd/hw_pagetable.c';

const INV = 'IOMMU_HWPT_INVALIDATE';

export const clauses: Clause[] = [
  // ---- IOMMU_HWPT_INVALIDATE argument errors (the machines decide only the target's type)
  {
    id: 'HWPT_INVALIDATE.RESERVED',
    kind: 'errno',
    command: INV,
    errno: 'EOPNOTSUPP',
    statement: 'A non-zero __reserved fails with EOPNOTSUPP before anything else; entry_num is written back as 0.',
    source: { file: HWPT, function: 'iommufd_hwpt_invalidate' },
    profiles: BOTH,
    checks: ['machines.kernel-replay.linux-6.12', 'machines.kernel-replay.linux-7.3'],
  },
  {
    id: 'HWPT_INVALIDATE.ARRAY',
    kind: 'errno',
    command: INV,
    errno: 'EINVAL',
    statement: 'With entry_num != 0, a NULL data_uptr, an entry_len of 0 or above PAGE_SIZE, or entry_num above 2^19 fails with EINVAL before the lookup (entry_num = 0 is a valid probe of data_type).',
    source: { file: HWPT, function: 'iommufd_hwpt_invalidate' },
    profiles: BOTH,
    checks: ['machines.kernel-replay.linux-6.12', 'machines.kernel-replay.linux-7.3'],
  },
  {
    id: 'HWPT_INVALIDATE.DRIVER_ENTRIES',
    kind: 'errno',
    command: INV,
    errno: 'EINVAL',
    statement:
      'The driver processes the entries in order and stops at the first bad one, reporting how many it handled in entry_num: the mock refuses a wrong data_type or entry length and an IOTLB / cache id above its maximum with EINVAL, unknown entry flags with EOPNOTSUPP.',
    source: { file: 'drivers/iommu/iommufd/selftest.c', function: 'mock_domain_cache_invalidate_user' },
    profiles: BOTH,
    checks: ['machines.kernel-replay.linux-6.12', 'machines.kernel-replay.linux-7.3'],
  },
  {
    id: 'HWPT_INVALIDATE.DRIVER_FLAGS',
    kind: 'errno',
    command: INV,
    errno: 'EOPNOTSUPP',
    statement: 'The mock refuses an invalidation entry with unknown flags with EOPNOTSUPP (entry_num reports the entries handled before it).',
    source: { file: 'drivers/iommu/iommufd/selftest.c', function: 'mock_domain_cache_invalidate_user' },
    profiles: BOTH,
    checks: ['machines.kernel-replay.linux-6.12', 'machines.kernel-replay.linux-7.3'],
  },
  {
    id: 'NESTING.PARENT_MANUAL_NEST_PARENT',
    kind: 'lifecycle',
    command: 'IOMMU_HWPT_ALLOC',
    statement: 'A nested HWPT’s parent must be a manual paging HWPT allocated with IOMMU_HWPT_ALLOC_NEST_PARENT: an automatic HWPT or one without the flag is refused with EINVAL (nested-on-nested is refused earlier: a nested HWPT is no valid pt_id).',
    source: { file: HWPT, function: 'iommufd_hwpt_nested_alloc' },
    profiles: BOTH,
    decides: ['EINVAL'],
    checks: ['machines.nesting.parent-rules', 'machines.kernel-replay.linux-6.12', 'machines.kernel-replay.linux-7.3'],
  },
  {
    id: 'NESTING.CHILD_HOLDS_PARENT',
    kind: 'lifecycle',
    command: 'IOMMU_HWPT_ALLOC',
    statement: 'A nested HWPT allocated from a paging parent holds the parent (IOMMU_DESTROY of the parent fails with EBUSY) until the nested HWPT is destroyed.',
    source: { file: HWPT, function: 'iommufd_hwpt_nested_alloc' },
    profiles: BOTH,
    decides: ['EBUSY'],
    events: ['IOMMU_HWPT_ALLOC', 'IOMMU_DESTROY'],
    checks: ['machines.nesting.parent-rules', 'machines.kernel-replay.linux-6.12'],
  },
  {
    id: 'NESTING.CHILD_DESTROY',
    kind: 'lifecycle',
    command: 'IOMMU_DESTROY',
    statement: 'A nested HWPT is destroyed by IOMMU_DESTROY once no device or PASID is attached to it (EBUSY before); it then releases its parent or vIOMMU and its fault queue.',
    source: { file: HWPT, function: 'iommufd_hwpt_nested_destroy' },
    profiles: BOTH,
    decides: ['EBUSY'],
    checks: ['machines.nesting.attach-and-destroy', 'machines.kernel-replay.linux-6.12'],
  },
  {
    id: 'NESTING.ATTACH',
    kind: 'lifecycle',
    statement: 'A device (or with 7.3 a PASID) attaches to a nested HWPT like to a paging one, by its id; reserved regions and IOVA handling use the parent’s IOAS.',
    source: { file: 'drivers/iommu/iommufd/device.c', function: 'iommufd_device_change_pt' },
    profiles: BOTH,
    decides: [],
    events: ['IOMMU_TEST_OP_MOCK_DOMAIN', 'IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE', 'VFIO_DEVICE_ATTACH_IOMMUFD_PT'],
    checks: ['machines.nesting.attach-and-destroy'],
  },
  {
    id: 'NESTING.INVALIDATE',
    kind: 'lifecycle',
    command: 'IOMMU_HWPT_INVALIDATE',
    statement: 'IOMMU_HWPT_INVALIDATE takes a nested HWPT (the driver then checks the entries); it changes no lifecycle state.',
    source: { file: HWPT, function: 'iommufd_hwpt_invalidate' },
    profiles: BOTH,
    decides: [],
    checks: ['machines.nesting.invalidate-target'],
  },
];
