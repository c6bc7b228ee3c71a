/**
 * PASID attachments (seeds 001, 004; 7.3): a device's RID and its PASIDs
 * attach independently, under compatibility rules between them.
 * drivers/iommu/iommufd/device.c (iommufd_hwpt_pasid_compat,
 * iommufd_hw_pagetable_attach, iommufd_device_do_replace,
 * iommufd_hw_pagetable_detach), drivers/vfio/iommufd.c, selftest.c.
 */
import type { Clause } from './types.ts';

const DEV = 'drivers/iommu/iommufd/device.c';
const P73 = ['7.3'] as const;
const PASID_EVENTS = ['IOMMU_TEST_OP_PASID_ATTACH', 'IOMMU_TEST_OP_PASID_REPLACE', 'VFIO_DEVICE_ATTACH_IOMMUFD_PT'];

export const clauses: Clause[] = [
  {
    id: 'PASID.ATTACH',
    kind: 'lifecycle',
    statement: 'A PASID of a bound device attaches to an IOAS’s automatic HWPT, a paging or a nested HWPT like the RID does, independently of the RID; the HWPT gains a user.',
    source: { file: DEV, function: 'iommufd_device_attach' },
    profiles: P73,
    decides: [],
    events: ['IOMMU_TEST_OP_PASID_ATTACH', 'VFIO_DEVICE_ATTACH_IOMMUFD_PT'],
    checks: ['machines.pasid.attach-replace-detach', 'machines.kernel-replay.linux-7.3'],
  },
  {
    id: 'PASID.ATTACH_TWICE',
    kind: 'lifecycle',
    statement: 'IOMMU_TEST_OP_PASID_ATTACH of a PASID that is already attached fails with EBUSY (the device is already in that PASID’s device array); the VFIO cdev replaces instead.',
    source: { file: DEV, function: 'iommufd_hw_pagetable_attach' },
    profiles: P73,
    decides: ['EBUSY'],
    events: ['IOMMU_TEST_OP_PASID_ATTACH'],
    checks: ['machines.pasid.attach-replace-detach', 'machines.kernel-replay.linux-7.3'],
  },
  {
    id: 'PASID.REPLACE',
    kind: 'lifecycle',
    statement: 'Replacing a PASID’s attachment needs an attached PASID (EINVAL otherwise) and then follows the attach rules; a failed replace leaves the old HWPT in place.',
    source: { file: DEV, function: 'iommufd_device_do_replace' },
    profiles: P73,
    decides: ['EINVAL'],
    events: ['IOMMU_TEST_OP_PASID_REPLACE', 'VFIO_DEVICE_ATTACH_IOMMUFD_PT'],
    checks: ['machines.pasid.attach-replace-detach', 'machines.kernel-replay.linux-7.3'],
  },
  {
    id: 'PASID.DETACH',
    kind: 'lifecycle',
    statement: 'Detaching a PASID drops its attachment (an automatic HWPT left without users is freed); detaching one that is not attached is a silent success.',
    source: { file: DEV, function: 'iommufd_hw_pagetable_detach' },
    profiles: P73,
    decides: [],
    events: ['IOMMU_TEST_OP_PASID_DETACH', 'VFIO_DEVICE_DETACH_IOMMUFD_PT'],
    checks: ['machines.pasid.attach-replace-detach'],
  },
  {
    id: 'PASID.HWPT_COMPAT',
    kind: 'lifecycle',
    statement: 'A PASID attaches only to a HWPT allocated with IOMMU_HWPT_ALLOC_PASID (an IOAS’s automatic HWPT never is): another HWPT is refused with EINVAL.',
    source: { file: DEV, function: 'iommufd_hwpt_pasid_compat' },
    profiles: P73,
    decides: ['EINVAL'],
    events: PASID_EVENTS,
    checks: ['machines.pasid.compat-rules', 'machines.kernel-replay.linux-7.3'],
  },
  {
    id: 'PASID.RID_COMPAT',
    kind: 'lifecycle',
    statement:
      'The RID and the PASIDs share the group’s translation rules: a PASID cannot attach while the RID is on a HWPT without IOMMU_HWPT_ALLOC_PASID, and the RID cannot attach or replace to such a HWPT while any PASID is attached (EINVAL).',
    source: { file: DEV, function: 'iommufd_hwpt_pasid_compat' },
    profiles: P73,
    decides: ['EINVAL'],
    events: [...PASID_EVENTS, 'IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE'],
    checks: ['machines.pasid.compat-rules', 'machines.kernel-replay.linux-7.3'],
  },
  {
    id: 'PASID.CHECK_HWPT',
    kind: 'lifecycle',
    command: 'IOMMU_TEST_CMD',
    events: ['IOMMU_TEST_OP_PASID_CHECK_HWPT'],
    statement: 'IOMMU_TEST_OP_PASID_CHECK_HWPT succeeds iff the PASID is attached to that HWPT (hwpt_id 0: iff it is attached to none), else EINVAL.',
    source: { file: 'drivers/iommu/iommufd/selftest.c', function: 'iommufd_test_pasid_check_hwpt' },
    profiles: P73,
    decides: ['EINVAL'],
    checks: ['machines.pasid.attach-replace-detach', 'machines.kernel-replay.linux-7.3'],
  },
  {
    id: 'PASID.UNBIND_DETACHES',
    kind: 'lifecycle',
    statement: 'Unbinding a VFIO device (releasing its file) detaches every PASID it attached, then the RID.',
    source: { file: 'drivers/vfio/iommufd.c', function: 'vfio_iommufd_physical_unbind' },
    profiles: P73,
    decides: [],
    events: ['close'],
    checks: ['machines.pasid.unbind-detaches'],
  },
];
