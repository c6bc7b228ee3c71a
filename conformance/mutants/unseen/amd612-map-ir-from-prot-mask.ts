/**
 * amd612-map-ir-from-prot-mask (6.12 drivers/iommu/amd/io_pgtable.c
 * iommu_v1_map_pages, the PTE permission bits).
 *
 * The AMD v1 table has separate read and write permission bits in every leaf
 * (IR = bit 61, IW = bit 62), and iommu_v1_map_pages sets each from its own
 * IOMMU_PROT_* bit:
 *
 *     ret = -EINVAL;
 *     if (!(prot & IOMMU_PROT_MASK))
 *             goto out;
 *     ...
 *             if (prot & IOMMU_PROT_IR)
 *                     __pte |= IOMMU_PTE_IR;
 *             if (prot & IOMMU_PROT_IW)
 *                     __pte |= IOMMU_PTE_IW;
 *
 * The fault tests the mask the function tested a few lines up for the read
 * bit (`if (prot & IOMMU_PROT_MASK) __pte |= IOMMU_PTE_IR;`), the way VT-d's
 * __domain_mapping ORs DMA_FL_PTE_PRESENT (= its read bit) into every leaf on
 * the belief that a present entry must be readable. Read-write and read-only
 * maps are unchanged; a write-only map (IOMMU_IOAS_MAP_WRITEABLE without
 * IOMMU_IOAS_MAP_READABLE, and VFIO_DMA_MAP_FLAG_WRITE alone through the
 * type1 compat) becomes readable by the device.
 *
 * Observable (6.12, AMD unit only: 7.3 maps through generic_pt's amdv1
 * set_prot, the other 6.12 drivers through their own code): after a
 * write-only IOAS_MAP with an amd0 device attached, a DMA read of the IOVA
 * succeeds and returns the user's bytes where the kernel faults it
 * (permission), and translate reports read: true.
 *
 * Applied as: each 6.12 AMD v1 table's setProt (pt_iommu_set_prot's place in
 * the driver, called once per map_pages) is an own-property wrapper that adds
 * IR to the leaf attributes whenever the prot has either bit.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { AMD_IR_HI } from '../../../impl/pagetable/fmt/amdv1.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';

/** include/linux/iommu.h IOMMU_READ | IOMMU_WRITE (= amd_iommu_types.h IOMMU_PROT_MASK). */
const IOMMU_PROT_MASK = 0x3;

/** The AmdLegacyTable internals iommu_v1_map_pages reads (protected in the reference). */
interface AmdInternals {
  g: { driver: string };
  attrs: Int32Array;
  setProt(prot: number): number;
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('amd612-map-ir-from-prot-mask', profile, {
    domain: (d) => {
      const pt = d.hw?.pt as unknown as AmdInternals | null | undefined;
      if (!pt || pt.g.driver !== 'amd-612') return;
      patchOwn(pt, 'setProt', (setProt) => (prot: number): number => {
        const rc = setProt(prot);
        if (rc === 0 && prot & IOMMU_PROT_MASK) pt.attrs[1] = (pt.attrs[1] as number) | AMD_IR_HI; // THE FAULT: IR from the mask, not IOMMU_PROT_IR
        return rc;
      });
    },
  });
}
