/**
 * Round 6b fault (drivers/iommu/generic_pt/fmt/armv8.h armv8pt_iommu_set_prot;
 * io-pgtable-arm.c arm_lpae_prot_to_pte before it).
 *
 * For a stage-1 table the read-only permission is AP[2]:
 *     if (!(iommu_prot & IOMMU_WRITE) && (iommu_prot & IOMMU_READ))
 *             pte |= ARM_LPAE_PTE_AP_RDONLY;
 * The fault tests the wrong bit of the pair:
 *     if (!(iommu_prot & IOMMU_READ) && (iommu_prot & IOMMU_WRITE))
 * so a read-only map (IOMMU_IOAS_MAP without IOMMU_IOAS_MAP_WRITEABLE, a
 * read-only IOAS_COPY, VFIO_DMA_MAP_FLAG_READ alone) gets a read/write
 * descriptor, and a write-only one gets a read-only descriptor. On an SMMUv3
 * stage-1 domain a device can then write into pages the user mapped read-only
 * (and that were pinned without FOLL_WRITE: the page cache, a shared zero
 * page); writes through a write-only map fault.
 *
 * Applied as: the stage-1 Arm table's set_prot computes its attributes for
 * the prot with READ and WRITE exchanged when only one of them is set.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { IOMMU_READ, IOMMU_WRITE, K_ARM_S1 } from '../../../impl/pagetable/format.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';

type SetProt = { setProt(prot: number): number };

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('arm-s1-rdonly-swapped', profile, {
    domain: (d) => {
      const pt = d.hw?.pt;
      if (!pt || pt.g.kind !== K_ARM_S1) return;
      patchOwn(pt as unknown as SetProt, 'setProt', (setProt) => (prot: number) => {
        const rw = prot & (IOMMU_READ | IOMMU_WRITE);
        // THE FAULT: AP_RDONLY when WRITE without READ, instead of READ without WRITE.
        if (rw === IOMMU_READ) return setProt(prot | IOMMU_WRITE);
        if (rw === IOMMU_WRITE) return setProt((prot & ~IOMMU_WRITE) | IOMMU_READ); // AP[2]=1: read-only in hardware
        return setProt(prot);
      });
    },
  });
}
