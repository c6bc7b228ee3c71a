/**
 * R41-B3 — smmu-hw-info-idr-byte-stride (drivers/iommu/arm/arm-smmu-v3/
 * arm-smmu-v3-iommufd.c arm_smmu_hw_info(), IOMMU_GET_HW_INFO on a device
 * behind an SMMUv3; 7.3 only — 6.12's SMMUv3 has no hw_info here).
 *
 * The six ID registers are read through a u32 pointer, so base_idr + i is the
 * i-th 32-bit register (IDR0 at 0x0, IDR1 at 0x4, ... IDR5 at 0x14):
 *
 *     u32 __iomem *base_idr;
 *     ...
 *     base_idr = master->smmu->base + ARM_SMMU_IDR0;
 *     for (i = 0; i <= 5; i++)
 *             info->idr[i] = readl_relaxed(base_idr + i);
 *
 * THE FAULT declares the cursor as the MMIO base's own type,
 *
 *     void __iomem *base_idr;
 *
 * so base_idr + i steps one byte: idr[i] is the 32-bit word at byte offset i
 * of the register file (IDR0 >> 8i | IDR1 << (32 - 8i) for i = 1..3, IDR1 for
 * i = 4, IDR1 >> 8 | IDR2 << 24 for i = 5). IDR0 is right; IDR1..IDR5 — the
 * queue sizes, SID/SSID widths, RIL, the output address size and granules the
 * VMM builds its virtual SMMU from — are garbage mixes of neighbouring
 * registers. iidr/aidr are read from their own offsets and stay right.
 *
 * Applied as: the SMMUv3 driver's hwInfo (7.3) answers the reference's
 * struct with idr[] rebuilt from the unit's registers at byte stride.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { decodeStruct, encodeStruct } from '../../../spec/abi/codec.ts';
import { mutantImplementation } from '../harness.ts';
import { patchDriverHwInfo } from './_hw_info.ts';

/** readl at byte offset `off` of a little-endian file of 32-bit registers. */
function readlAt(regs: readonly bigint[], off: number): number {
  let v = 0n;
  for (let b = 0; b < 4; b++) {
    const byte = off + b;
    const r = regs[Math.floor(byte / 4)] ?? 0n;
    v |= ((r >> BigInt(8 * (byte % 4))) & 0xffn) << BigInt(8 * b);
  }
  return Number(v);
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('smmu-hw-info-idr-byte-stride', profile, {
    machine: (m) => {
      if (profile !== '7.3') return;
      patchDriverHwInfo(m, 'smmuv3', (hwInfo) => (dev, inType) => {
        const r = hwInfo(dev, inType);
        if ('errno' in r) return r;
        const v = decodeStruct(profile, 'iommu_hw_info_arm_smmuv3', r.data);
        const regs = dev.iommu.config.regs.slice(0, 6);
        // THE FAULT: base_idr + i is a byte offset.
        const idr = [0, 1, 2, 3, 4, 5].map((i) => readlAt(regs, i));
        return { type: r.type, data: encodeStruct(profile, 'iommu_hw_info_arm_smmuv3', { ...v, idr }) };
      });
    },
  });
}
