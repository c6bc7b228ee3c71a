/**
 * Round 41 fault C1 (coherency, both profiles): drivers/vfio/vfio_main.c
 * vfio_file_enforced_coherent (6.12: via vfio_device_enforced_coherent) asks
 * the device's IOMMU the wrong capability. The kernel:
 *
 *     device = vfio_device_from_file(file);
 *     if (device)
 *         return device_iommu_capable(device->dev,
 *                                     IOMMU_CAP_ENFORCE_CACHE_COHERENCY);
 *
 * The fault queries IOMMU_CAP_CACHE_COHERENCY (the IOMMU's own table walks are
 * coherent) — the neighbouring enum member, which every IOMMU that iommufd
 * binds reports — instead of whether the IOMMU can force no-snoop DMA to snoop.
 *
 * What a user sees: kvm-vfio's kvm_vfio_update_coherency believes every VFIO
 * device file is coherent, so registering a device behind an IOMMU that cannot
 * enforce coherency (smmu0 without CANWBS, vtd1 without snoop control, a mock
 * device) never registers non-coherent DMA: KVM_STATE noncoherentDma stays
 * false, KVM keeps treating guest WBINVD as a no-op while the device's
 * no-snoop DMA bypasses the CPU caches.
 *
 * Applied as: while the reference handles a kvm-vfio request (add, del,
 * destroy), the machine's device_iommu_capable answers
 * ENFORCE_CACHE_COHERENCY with CACHE_COHERENCY; iommufd's own queries (bind,
 * HWPT allocation) are untouched.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';

const KVM_OPS = new Set(['kvm_vfio_add', 'kvm_vfio_del', 'kvm_destroy']);

export function createAdapter(profile: Profile): Implementation {
  let inKvm = false;
  return mutantImplementation('vfio-enforced-coherent-reads-cache-coherency', profile, {
    machine: (m) => {
      patchOwn(m, 'capable', (capable) => (dev, cap) => capable(dev, inKvm && cap === 'ENFORCE_CACHE_COHERENCY' ? 'CACHE_COHERENCY' : cap));
    },
    request: (req, next) => {
      if (!KVM_OPS.has(req.op)) return next(req);
      inKvm = true;
      try {
        return next(req);
      } finally {
        inKvm = false;
      }
    },
  });
}
