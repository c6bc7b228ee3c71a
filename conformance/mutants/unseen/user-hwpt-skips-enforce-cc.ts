/**
 * Fault K4 (cache coherency / KVM): iommufd_hwpt_paging_alloc calls
 * iommufd_hwpt_paging_enforce_cc only on the immediate-attach path (the
 * automatic domain of an attach by IOAS id), not for a HWPT userspace
 * allocates with IOMMU_HWPT_ALLOC — the block ended up inside
 * `if (immediate_attach)` when IOMMU_HWPT_ALLOC was split from the auto path.
 *
 * Consequence: a HWPT allocated for a device whose IOMMU can enforce cache
 * coherency (IOMMU_CAP_ENFORCE_CACHE_COHERENCY, e.g. VT-d snoop control) does
 * not enforce it. The device attached to it can issue no-snoop DMA, while
 * KVM (vfio_file_enforced_coherent → the device capability) believes the
 * device is coherent and does not emulate WBINVD; a device that cannot
 * enforce is accepted into what should have been an enforcing domain; the
 * compat VFIO_DMA_CC_IOMMU reads 0.
 *
 * Bug class: a coherency decision skipped on one of two allocation paths
 * (the class of "iommufd: enforce_cache_coherency must be decided before the
 * domain is populated" and the KVM non-coherent-DMA / WBINVD hole).
 *
 * Applied as: for the duration of IOMMU_HWPT_ALLOC, the device reads as not
 * needing enforcement.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import type { IommufdDevice } from '../../../impl/iommufd/iommufd_private.ts';
import { mutantImplementation } from '../harness.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('user-hwpt-skips-enforce-cc', profile, {
    handlers: {
      IOMMU_HWPT_ALLOC: (ucmd, original) => {
        const obj = ucmd.ctx.objects.load(ucmd.cmd.num('dev_id'));
        const idev = obj?.type === 'DEVICE' ? (obj as IommufdDevice) : undefined;
        if (!idev || !idev.enforceCacheCoherency) return original(ucmd);
        idev.enforceCacheCoherency = false;
        try {
          return original(ucmd);
        } finally {
          idev.enforceCacheCoherency = true;
        }
      },
    },
  });
}
