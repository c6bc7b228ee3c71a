/**
 * smmu-hw-info-idr5-unread — drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3-iommufd.c
 * arm_smmu_hw_info() (7.3 only: 6.12's SMMUv3 driver has no hw_info op and
 * IOMMU_GET_HW_INFO answers IOMMU_HW_INFO_TYPE_NONE there).
 *
 * The kernel copies the six ID registers IDR0..IDR5 into
 * struct iommu_hw_info_arm_smmuv3 (its `__u32 idr[6]`), then IIDR and AIDR:
 *
 *     base_idr = master->smmu->base + ARM_SMMU_IDR0;
 *     for (i = 0; i <= 5; i++)
 *             info->idr[i] = readl_relaxed(base_idr + i);
 *     info->iidr = readl_relaxed(master->smmu->base + ARM_SMMU_IIDR);
 *     info->aidr = readl_relaxed(master->smmu->base + ARM_SMMU_AIDR);
 *
 * THE FAULT: the loop bound is written the usual way for "six registers",
 *
 *     for (i = 0; i < 5; i++)
 *
 * one short of the inclusive `<= 5` the register numbering invites: IDR5 is
 * never read and the kzalloc'ed slot stays 0.
 *
 * Why it matters: IDR5 is the register a VMM needs to build a vSMMU — OAS
 * (bits 2:0), the supported translation granules GRAN4K/16K/64K (bits 4:6)
 * and VAX. With idr[5] == 0 user space reads a 32-bit OAS and no granule at
 * all, for an SMMU that advertises 48 bits and 4K/64K granules, while the
 * rest of the struct (IDR0..4, IIDR, AIDR, data_len == sizeof) looks
 * complete. Nothing errors; the answer is simply wrong and deterministic.
 *
 * Observable: IOMMU_GET_HW_INFO on a device behind smmu0 (7.3) copies back
 * idr[5] (bytes 28..31 of the data buffer) as 0 instead of the unit's IDR5
 * (0x75); every other field, out_data_type and data_len are as the kernel's.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { decodeStruct, encodeStruct } from '../../../spec/abi/codec.ts';
import { mutantImplementation } from '../harness.ts';
import { patchDriverHwInfo } from './_hw_info.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('smmu-hw-info-idr5-unread', profile, {
    machine: (m) => {
      if (profile !== '7.3') return;
      patchDriverHwInfo(m, 'smmuv3', (hwInfo) => (dev, inType) => {
        const r = hwInfo(dev, inType);
        if (!('data' in r)) return r;
        const v = decodeStruct(profile, 'iommu_hw_info_arm_smmuv3', r.data);
        const idr = [...(v.idr as readonly (number | bigint)[])].map(Number);
        // THE FAULT: `for (i = 0; i < 5; i++)` — IDR5 is never read, the zeroed slot stays 0.
        idr[5] = 0;
        return { type: r.type, data: encodeStruct(profile, 'iommu_hw_info_arm_smmuv3', { ...v, idr }) };
      });
    },
  });
}
