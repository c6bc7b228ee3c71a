/**
 * iommu groups under the device-centric API (seed 000): ownership is claimed
 * for the whole group at bind, every attached device of a group uses the same
 * HWPT, reserved regions join per device, replace moves the whole group, and
 * groups are fixed at probe time. drivers/iommu/iommufd/device.c
 * (iommufd_hw_pagetable_attach, iommufd_device_do_replace) and
 * drivers/iommu/iommu.c (iommu_device_claim_dma_owner).
 */
import { BOTH, type Clause } from './types.ts';

const DEV = 'drivers/iommu/iommufd/device.c';

export const clauses: Clause[] = [
  {
    id: 'GROUP.OWNERSHIP',
    decides: ['EPERM'],
    events: ['VFIO_DEVICE_BIND_IOMMUFD',  'close'],
    kind: 'security',
    statement: 'Binding any device claims DMA ownership of its whole iommu_group for the iommufd; a device of the group bound by another iommufd is refused with EPERM; further devices of the group may bind to the same iommufd, wherever the group is attached (an owned group never answers a claim with EBUSY, the unowned group\u2019s answer when it is not in its default domain); ownership is released with the last unbind.',
    source: { file: 'drivers/iommu/iommu.c', function: 'iommu_device_claim_dma_owner' },
    profiles: BOTH,
    errno: 'EPERM',
    checks: ['ref.group.ownership-eperm', 'ref.vfio_bind.group-owner-eperm', 'ref.vfio_bind.unbind-on-close', 'ref.platform.dma-ownership', 'suite.invariants.bind-eperm-needs-an-owner', 'suite.invariants.rebind-after-closing', 'suite.invariants.owned-group-never-ebusy'],
  },
  {
    id: 'GROUP.SAME_HWPT',
    decides: ['EINVAL'],
    events: ['VFIO_DEVICE_ATTACH_IOMMUFD_PT'],
    kind: 'security',
    statement: 'The first device of a group to attach attaches the group; every other device of the group must attach to the same HWPT (another HWPT → EINVAL); an IOAS pt_id finds the group’s automatic HWPT.',
    source: { file: DEV, function: 'iommufd_hw_pagetable_attach' },
    profiles: BOTH,
    errno: 'EINVAL',
    checks: ['ref.group.same-hwpt-and-resv-join', 'ref.device.random-sequences'],
  },
  {
    id: 'GROUP.RESV_PER_DEVICE',
    kind: 'state',
    statement: 'Each device’s reserved regions join the IOAS only when that device attaches, and leave when it detaches.',
    source: { file: DEV, function: 'iommufd_device_attach_reserved_iova' },
    profiles: BOTH,
    checks: ['ref.group.same-hwpt-and-resv-join', 'ref.fail_nth.vfio-attach-group'],
  },
  {
    id: 'GROUP.REPLACE_MOVES_GROUP',
    kind: 'state',
    statement: 'Replace by any attached device moves the whole group to the new HWPT at once (every attached device’s reference migrates; reserved regions move when the IOAS changes).',
    source: { file: DEV, function: 'iommufd_device_do_replace' },
    profiles: BOTH,
    checks: ['ref.group.same-hwpt-and-resv-join', 'ref.fail_nth.vfio-replace-group'],
  },
  {
    id: 'GROUP.BLOCKED_WHEN_EMPTY',
    kind: 'security',
    statement: 'When the last attached device of a group detaches, the group is put in the blocking domain: its devices’ DMA faults.',
    source: { file: DEV, function: 'iommufd_hw_pagetable_detach' },
    profiles: BOTH,
    checks: ['ref.group.same-hwpt-and-resv-join', 'ref.dma.faults'],
  },
  {
    id: 'GROUP.FIXED_AT_PROBE',
    kind: 'security',
    statement: 'Devices that are not isolated from each other share a group from probe time on and are never regrouped; the selftest mock bus puts every device in its own group.',
    source: { file: 'drivers/iommu/iommu.c', function: 'iommu_group_add_device' },
    profiles: BOTH,
    checks: ['ref.group.fixed-at-probe'],
  },
];
