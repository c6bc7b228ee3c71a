/**
 * C9 — bind-drops-enforce-cc (drivers/iommu/iommufd/device.c
 * iommufd_bind_iommu; 6.12: iommufd_device_bind).
 *
 * Binding records whether the device's IOMMU can make its DMA ignore the
 * PCIe no-snoop attribute, so that every paging domain later allocated for
 * the device is switched to enforce coherency before anything is mapped:
 *     /* igroup refcount moves into iommufd_device *\/
 *     idev->igroup = igroup;
 *     idev->enforce_cache_coherency =
 *             device_iommu_capable(dev, IOMMU_CAP_ENFORCE_CACHE_COHERENCY);
 *     return 0;
 * The fault loses the enforce_cache_coherency assignment when the
 * IOMMU half of the bind was split out of iommufd_device_bind (the field
 * stays as kzalloc left it, false). iommufd_hwpt_paging_alloc() then never
 * calls iommufd_hwpt_paging_enforce_cc() for the device: its HWPTs (automatic
 * ones and IOMMU_HWPT_ALLOC ones) are plain domains (no VT-d SNP, no AMD
 * FC-forced snooping), so the device's no-snoop DMA bypasses the CPU caches,
 * while KVM, which asks vfio_file_enforced_coherent() (the device's
 * capability), still believes it is coherent and does not emulate WBINVD:
 * the guest cannot flush what its device wrote or will read. Devices that
 * cannot enforce coherency now share the capable device's domain, and the
 * type1 compat VFIO_DMA_CC_IOMMU extension reports 0.
 *
 * Applied as: every device object a context publishes has its
 * enforce_cache_coherency cleared before any HWPT is allocated for it.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import type { IommufdDevice } from '../../../impl/iommufd/iommufd_private.ts';
import { mutantImplementation } from '../harness.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('bind-drops-enforce-cc', profile, {
    object: (obj) => {
      // THE FAULT: idev->enforce_cache_coherency is never set.
      if (obj.type === 'DEVICE') (obj as IommufdDevice).enforceCacheCoherency = false;
    },
  });
}
