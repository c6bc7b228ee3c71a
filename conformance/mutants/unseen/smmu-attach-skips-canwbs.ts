/**
 * smmu-attach-skips-canwbs (drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3.c
 * arm_smmu_attach_prepare, behind arm_smmu_attach_dev).
 *
 * An SMMUv3 paging domain enforces cache coherency
 * (arm_smmu_enforce_cache_coherency, called by iommufd when it allocates a
 * HWPT for a device reporting IOMMU_CAP_ENFORCE_CACHE_COHERENCY) only while
 * every master attached to it is CANWBS — its root complex forces every
 * transaction to be write-back cacheable and ignores PCIe No Snoop. From then
 * on the domain has to refuse any other master, which arm_smmu_attach_prepare
 * does while it links the master into smmu_domain->devices:
 *     spin_lock_irqsave(&smmu_domain->devices_lock, flags);
 *     if (smmu_domain->enforce_cache_coherency &&
 *         !arm_smmu_master_canwbs(master)) {
 *             spin_unlock_irqrestore(&smmu_domain->devices_lock, flags);
 *             ret = -EINVAL;
 *             goto err_iopf;
 *     }
 *
 * THE FAULT: the check is gone (lost when the devices-list handling around it
 * was reworked). A master without CANWBS attaches to a domain that has
 * promised coherency.
 *
 * Consequence for a user: an smmu0 device created without
 * enforceCacheCoherency can be attached to a HWPT allocated for a CANWBS
 * device — explicitly by its id, or through the IOAS, where the automatic
 * attach now reuses the enforcing HWPT instead of allocating a new one — and
 * the attach succeeds where the kernel answers EINVAL. The HWPT, and through
 * it the VFIO type1 compatibility (VFIO_CHECK_EXTENSION VFIO_DMA_CC_IOMMU),
 * keeps reporting enforced coherency while a member device can issue
 * non-snooped DMA that the IOMMU does not override: software that relies on
 * the report skips the cache maintenance it needs.
 *
 * Applied as: the SMMUv3 driver's attach_dev keeps its other check (dirty
 * tracking) and drops the CANWBS one.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { EINVAL } from '../../../impl/lib/errno.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('smmu-attach-skips-canwbs', profile, {
    machine: (m) => {
      const drivers = new Set([...m.instances.values()].map((i) => i.driver));
      for (const drv of drivers) {
        if (drv.name !== 'smmuv3') continue;
        patchOwn(drv, 'attachDev', () => (domain, dev) => {
          // THE FAULT: no `domain.enforceCacheCoherency && !canwbs(dev)` refusal.
          if (domain.dirtyOps && !dev.caps.dirtyTracking) return -EINVAL;
          return 0;
        });
      }
    },
  });
}
