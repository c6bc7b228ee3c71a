/**
 * smmu-capable-enforce-from-coherency (drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3.c
 * arm_smmu_capable, reached through device_iommu_capable(); both profiles).
 *
 * An SMMUv3 can only promise that a device's DMA snoops the CPU caches when
 * the root complex forces it (IORT CANWBS, per master); the SMMU's own
 * coherent table walks say nothing about the device's transactions:
 *     case IOMMU_CAP_CACHE_COHERENCY:
 *             /* Assume that a coherent TCU implies coherent TBUs *\/
 *             return master->smmu->features & ARM_SMMU_FEAT_COHERENCY;
 *     case IOMMU_CAP_ENFORCE_CACHE_COHERENCY:
 *             return arm_smmu_master_canwbs(master);
 * THE FAULT: the ENFORCE label lands above the first return (a merge that
 * kept the new case next to its sibling):
 *     case IOMMU_CAP_CACHE_COHERENCY:
 *     case IOMMU_CAP_ENFORCE_CACHE_COHERENCY:
 *             return master->smmu->features & ARM_SMMU_FEAT_COHERENCY;
 * so every master behind a coherent SMMU claims enforced coherency.
 *
 * What a user sees:
 *  - KVM: vfio_file_enforced_coherent() of the device's cdev asks exactly
 *    this capability; a VM holding a non-CANWBS device believes its DMA is
 *    coherent (kvm_arch_has_noncoherent_dma false), so KVM stops honouring
 *    the guest's cache maintenance for it — device writes of no-snoop data
 *    can sit behind stale CPU cache lines (coherency).
 *  - iommufd: idev->enforce_cache_coherency is set at bind, so the HWPT made
 *    for the device is switched to enforcing, and arm_smmu_attach_prepare
 *    then refuses the device itself (-EINVAL on every attach of a non-CANWBS
 *    device to a paging HWPT / IOAS), and VFIO_CHECK_EXTENSION
 *    (VFIO_DMA_CC_IOMMU) answers for the wrong devices.
 *
 * Applied as: the SMMUv3 driver's capable() answers ENFORCE_CACHE_COHERENCY
 * with its CACHE_COHERENCY answer (true: every simulated SMMU walks coherently).
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import type { IommuDriver } from '../../../impl/platform/iommu.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('smmu-capable-enforce-from-coherency', profile, {
    machine: (m) => {
      const drivers = new Set<IommuDriver>([...m.instances.values()].map((i) => i.driver).filter((d) => d.name === 'smmuv3'));
      for (const drv of drivers) {
        patchOwn(drv, 'capable', (capable) => (dev, cap) => {
          // THE FAULT: ENFORCE_CACHE_COHERENCY answered as CACHE_COHERENCY (SMMU coherent walks).
          if (cap === 'ENFORCE_CACHE_COHERENCY') return capable(dev, 'CACHE_COHERENCY');
          return capable(dev, cap);
        });
      }
    },
  });
}
