/**
 * smmu-hw-info-kmalloc-reserved — drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3-iommufd.c
 * arm_smmu_hw_info (7.3 only; 6.12 SMMUv3 has no hw_info op in this model).
 *
 * struct iommu_hw_info_arm_smmuv3 { __u32 flags; __u32 __reserved; __u32 idr[6];
 * __u32 iidr; __u32 aidr; } is allocated zeroed and only idr/iidr/aidr are
 * assigned; flags is ORed into:
 *
 *     info = kzalloc_obj(*info);
 *     ...
 *     for (i = 0; i <= 5; i++)
 *             info->idr[i] = readl_relaxed(base_idr + i);
 *     info->iidr = ...; info->aidr = ...;
 *     if (arm_smmu_erratum_repeat_tlbi_cfgi())
 *             info->flags |= IOMMU_HW_INFO_ARM_SMMUV3_ERRATA_REPEAT_TLBI_CFGI;
 *
 * THE FAULT: the buffer comes from kmalloc (kmalloc_obj), not kzalloc: flags and
 * __reserved are never written (flags only ORed), so they carry whatever the
 * slab object held before — here the slab's free poison (0x6b6b6b6b, what
 * slub_debug leaves in a freed object; without it, a previous user's data,
 * kernel pointers included).
 *
 * What a user sees: IOMMU_GET_HW_INFO on an SMMUv3 device returns a
 * struct iommu_hw_info_arm_smmuv3 whose flags has undefined bits set (a VMM
 * takes them for errata) and whose __reserved is non-zero: 8 bytes of kernel
 * heap copied to user space.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { IOMMU_HW_INFO_TYPE_ARM_SMMUV3 } from '../../../spec/uapi/constants.ts';
import { mutantImplementation } from '../harness.ts';
import { patchDriverHwInfo } from './_hw_info.ts';

/** POISON_FREE (include/linux/poison.h) in every byte. */
const SLAB_POISON = 0x6b;

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('smmu-hw-info-kmalloc-reserved', profile, {
    machine: (m) => {
      if (profile !== '7.3') return;
      patchDriverHwInfo(m, 'smmuv3', (hwInfo) => (dev, inType) => {
        const r = hwInfo(dev, inType);
        if (!('type' in r) || r.type !== IOMMU_HW_INFO_TYPE_ARM_SMMUV3) return r;
        // THE FAULT: kmalloc — flags (only ORed) and __reserved keep the old slab contents.
        const data = new Uint8Array(r.data);
        for (let i = 0; i < 8; i++) data[i] = ((data[i] as number) | SLAB_POISON) & 0xff;
        return { type: r.type, data };
      });
    },
  });
}
