/**
 * Round 5a fault (kvm-vfio, cache coherency / WBINVD): vfio_file_enforced_coherent
 * → vfio_device_enforced_coherent answers from the device's current
 * attachment instead of device_iommu_capable(IOMMU_CAP_ENFORCE_CACHE_COHERENCY):
 * a device with no iommufd attachment (unbound, or bound but detached: its
 * group is on the blocking domain) is reported coherent, "it cannot DMA, so
 * there is nothing to snoop".
 *
 * This is the old VFIO type1 bug class: KVM asked
 * vfio_external_check_extension(VFIO_DMA_CC_IOMMU), and type1's
 * vfio_domains_have_enforce_cache_coherency() returned 1 for a container with
 * no domain yet, so the answer depended on the order of KVM_DEV_VFIO_*_ADD and
 * the attach; it was fixed by deciding from the device capability ("vfio:
 * Use device_iommu_capable() for IOMMU_CAP_ENFORCE_CACHE_COHERENCY").
 *
 * Consequence: QEMU registers the device file with KVM right after opening
 * it, before VFIO_DEVICE_ATTACH_IOMMUFD_PT. A device behind an IOMMU that
 * cannot enforce coherency (no snoop control) is then counted coherent,
 * kvm_arch_register_noncoherent_dma is never called, WBINVD is not emulated,
 * and nothing re-derives the state when the device attaches and starts
 * issuing no-snoop DMA: the guest's WBINVD does not flush what the device
 * wrote around the cache.
 *
 * Applied as: while the reference handles a KVM request (add, del, destroy),
 * the machine answers ENFORCE_CACHE_COHERENCY as true for a device whose VFIO
 * device is not iommufd-attached.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import type { VfioDevice } from '../../../impl/iommufd/vfio_cdev.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';

export function createAdapter(profile: Profile): Implementation {
  let inKvm = false;
  return mutantImplementation('kvm-coherent-while-detached', profile, {
    machine: (m) =>
      patchOwn(m, 'capable', (capable) => (dev, cap) => {
        if (inKvm && cap === 'ENFORCE_CACHE_COHERENCY' && !(dev.vfio as VfioDevice | undefined)?.iommufdAttached) return true;
        return capable(dev, cap);
      }),
    request: (req, next) => {
      if (req.op !== 'kvm_vfio_add' && req.op !== 'kvm_vfio_del' && req.op !== 'kvm_destroy') return next(req);
      inKvm = true;
      try {
        return next(req);
      } finally {
        inKvm = false;
      }
    },
  });
}
