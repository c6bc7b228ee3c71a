/**
 * R23-C4 — hwpt-enforce-cc-not-recorded (drivers/iommu/iommufd/hw_pagetable.c
 * iommufd_hwpt_paging_enforce_cc, called by iommufd_hwpt_paging_alloc for
 * every paging HWPT allocated for a device that can enforce cache coherency:
 * the automatic HWPT of an attach / replace by IOAS id, IOMMU_HWPT_ALLOC;
 * 6.12 and 7.3 alike).
 *
 * The driver switches the new, still empty domain to force snooping, and
 * iommufd records the outcome in the HWPT, where the VFIO type1 compat
 * layer reads it back for VFIO_CHECK_EXTENSION(VFIO_DMA_CC_IOMMU)
 * (iommufd_vfio_cc_iommu: 1 iff every paging HWPT of the compat IOAS has
 * hwpt_paging->enforce_cache_coherency):
 *
 *     static int
 *     iommufd_hwpt_paging_enforce_cc(struct iommufd_hwpt_paging *hwpt_paging)
 *     {
 *             struct iommu_domain *paging_domain = hwpt_paging->common.domain;
 *
 *             if (hwpt_paging->enforce_cache_coherency)
 *                     return 0;
 *
 *             if (paging_domain->ops->enforce_cache_coherency)
 *                     hwpt_paging->enforce_cache_coherency =
 *                             paging_domain->ops->enforce_cache_coherency(
 *                                     paging_domain);
 *             if (!hwpt_paging->enforce_cache_coherency)
 *                     return -EINVAL;
 *             return 0;
 *     }
 *
 * THE FAULT: a cleanup that "avoids writing a bitfield it only tests" keeps
 * the driver's answer in a local:
 *
 *             bool enforced = false;
 *
 *             if (hwpt_paging->enforce_cache_coherency)
 *                     return 0;
 *             if (paging_domain->ops->enforce_cache_coherency)
 *                     enforced = paging_domain->ops->enforce_cache_coherency(
 *                                     paging_domain);
 *             return enforced ? 0 : -EINVAL;
 *
 * The domain does enforce (the driver set force snooping / the SNP and FC
 * bits, refuses devices that cannot snoop), allocation and attach answer as
 * before, and KVM — which asks the device capability — is not affected. But
 * the HWPT never records it, so the one reader of the record gives a wrong
 * answer once another command put a HWPT on the compat IOAS: VFIO_CHECK_
 * EXTENSION(VFIO_DMA_CC_IOMMU) on the container answers 0 ("DMA is not
 * cache coherent") for a container whose every domain enforces coherency;
 * with no HWPT at all it still answers 1. A type1 user (DPDK, a VMM on the
 * legacy container path) then takes the non-coherent path: extra cache
 * maintenance, or refusing the device. Several commands and two objects: the
 * HWPT that is allocated (attach by IOAS id, IOMMU_HWPT_ALLOC) and the
 * container query about the IOAS.
 *
 * Applied as: every HWPT_PAGING the context publishes
 * (iommufd_object_finalize) has enforce_cache_coherency false; the domain's
 * own state (what the driver did) is untouched.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import type { IommufdHwptPaging } from '../../../impl/iommufd/iommufd_private.ts';
import { mutantImplementation } from '../harness.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('hwpt-enforce-cc-not-recorded', profile, {
    object: (obj) => {
      if (obj.type === 'HWPT_PAGING') (obj as IommufdHwptPaging).enforceCacheCoherency = false; // never recorded
    },
  });
}
