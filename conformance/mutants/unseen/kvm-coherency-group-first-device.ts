/**
 * RT42-C3 — kvm-coherency-group-first-device (drivers/vfio/vfio_main.c
 * vfio_device_enforced_coherent, reached from virt/kvm/vfio.c
 * kvm_vfio_update_coherency through vfio_file_enforced_coherent).
 *
 * For a device cdev file the answer is the device's own capability:
 *
 *     bool vfio_device_enforced_coherent(struct vfio_device *device)
 *     {
 *             bool ret;
 *             if (!vfio_device_try_get_registration(device))
 *                     return true;
 *             ret = device_iommu_capable(device->dev,
 *                                        IOMMU_CAP_ENFORCE_CACHE_COHERENCY);
 *             ...
 *
 * THE FAULT: a "share the group path" cleanup asks the device's iommu_group
 * instead, i.e. the first device of the group
 * (list_first_entry(&group->device_list, ...)->dev), as the legacy group path
 * walks the group's devices — but stops at the first. On SMMUv3 enforcement is
 * per master (CANWBS in the firmware tables), so two devices of one group can
 * differ.
 *
 * What a user sees: a VM given a non-coherent device whose group's first
 * device is coherent reports no non-coherent DMA (KVM_DEV_VFIO_FILE_ADD):
 * KVM does not emulate WBINVD / honours guest PAT as if the device snooped; in
 * the other direction a coherent device behind a non-coherent first sibling
 * turns WBINVD emulation on.
 *
 * Applied as: after every KVM_DEV_VFIO_FILE_ADD / _DEL the reference handles,
 * kv->noncoherent and noncoherent_dma_count are moved to what the faulty
 * per-file answer gives (same walk, same early stop as the reference).
 */
import type { VfioDeviceFile } from '../../../impl/iommufd/vfio_cdev.ts';
import type { KFile } from '../../../impl/process/file.ts';
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { coherencyRederivedWith } from './_kvm_coherency.ts';

function faultyEnforcedCoherent(file: KFile): boolean {
  const dev = (file.private_data as VfioDeviceFile).device.dev;
  if (dev.removed) return true;
  // THE FAULT: the group's first device is asked, not this one.
  const first = dev.group.devices[0] ?? dev;
  return dev.machine.capable(first, 'ENFORCE_CACHE_COHERENCY');
}

export function createAdapter(profile: Profile): Implementation {
  return coherencyRederivedWith('kvm-coherency-group-first-device', profile, (files) => files.some((kvf) => !faultyEnforcedCoherent(kvf.file)));
}
