/**
 * smmu-hw-info-aidr-reads-iidr (drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3-iommufd.c:
 * arm_smmu_hw_info() — 7.3, IOMMU_GET_HW_INFO on a device behind an SMMUv3).
 *
 * The kernel, 7.3:
 *
 *     base_idr = master->smmu->base + ARM_SMMU_IDR0;
 *     for (i = 0; i <= 5; i++)
 *             info->idr[i] = readl_relaxed(base_idr + i);
 *     info->iidr = readl_relaxed(master->smmu->base + ARM_SMMU_IIDR);
 *     info->aidr = readl_relaxed(master->smmu->base + ARM_SMMU_AIDR);
 *
 * THE FAULT reads ARM_SMMU_IIDR for aidr too (a copy-pasted line whose
 * register offset was not changed), so the reported architecture version
 * (AIDR: SMMUv3.x) is the implementation id register's value instead.
 *
 * Observable: struct iommu_hw_info_arm_smmuv3.aidr returned by
 * IOMMU_GET_HW_INFO equals iidr (0x43b here) where the kernel reports the
 * unit's AIDR (2: SMMUv3.2). Profile 7.3 only (6.12 SMMUv3 has no hw_info).
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation } from '../harness.ts';
import { patchDriverHwInfo } from './_hw_info.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('smmu-hw-info-aidr-reads-iidr', profile, {
    machine: (m) =>
      patchDriverHwInfo(m, 'smmuv3', (orig) => (dev, inType) => {
        const regs = dev.iommu.config.regs;
        // THE FAULT: the AIDR slot (regs[7]) is read from the IIDR offset (regs[6]).
        const cfg = { ...dev.iommu.config, regs: [...regs.slice(0, 7), regs[6] ?? 0n] };
        const iommu = Object.assign(Object.create(Object.getPrototypeOf(dev.iommu) as object) as typeof dev.iommu, dev.iommu, { config: cfg });
        const view = Object.assign(Object.create(Object.getPrototypeOf(dev) as object) as typeof dev, dev, { iommu });
        return orig(view, inType);
      }),
  });
}
