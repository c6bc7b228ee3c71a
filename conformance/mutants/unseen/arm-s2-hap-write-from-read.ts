/**
 * arm-s2-hap-write-from-read (drivers/iommu/io-pgtable-arm.c arm_lpae_prot_to_pte,
 * the stage-2 branch; reached by SMMUv3 nesting-parent domains, 7.3).
 *
 * The kernel's stage-2 permission bits (HAP, S2AP[7:6]) come one from each flag:
 *
 *     } else {
 *             pte = ARM_LPAE_PTE_HAP_FAULT;
 *             if (prot & IOMMU_READ)
 *                     pte |= ARM_LPAE_PTE_HAP_READ;
 *             if (prot & IOMMU_WRITE)
 *                     pte |= ARM_LPAE_PTE_HAP_WRITE;
 *     }
 *
 * The fault is a copy-paste slip in the second test — the same flag tested
 * twice: `if (prot & IOMMU_READ) pte |= ARM_LPAE_PTE_HAP_WRITE;`. The stage-1
 * branch (every ordinary SMMUv3 domain) is untouched, so only a stage-2 table
 * shows it: on SMMUv3 that is an IOMMU_HWPT_ALLOC_NEST_PARENT paging HWPT
 * (arm_smmu_domain_alloc_paging_flags → ARM_SMMU_DOMAIN_S2, ARM_64_LPAE_S2).
 * A read+write mapping is encoded as before; a read-only IOAS mapping becomes
 * HAP read|write, so a device attached to the nesting parent can DMA-write
 * into pages userspace mapped read-only (a read-only user buffer included);
 * a write-only mapping gets no permission at all and its DMA writes fault.
 *
 * Applied as: every stage-2 table of the instance's SMMUv3 domains computes
 * its leaf attributes (pt_iommu_set_prot / arm_lpae_prot_to_pte, the table's
 * own setProt) with HAP_WRITE following IOMMU_READ.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { ARM_HAP_WRITE } from '../../../impl/pagetable/fmt/armv8.ts';
import { IOMMU_READ } from '../../../impl/pagetable/fmt/types.ts';
import { K_ARM_S2 } from '../../../impl/pagetable/format.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';

/** What the table's protected setProt uses (plain members at run time). */
interface ProtInternals {
  readonly attrs: Int32Array;
  setProt(prot: number): number;
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('arm-s2-hap-write-from-read', profile, {
    domain: (d) => {
      const pt = d.hw?.pt;
      if (!pt || pt.g.kind !== K_ARM_S2) return;
      const t = pt as unknown as ProtInternals;
      patchOwn(t, 'setProt', (setProt) => (prot: number) => {
        const rc = setProt(prot);
        if (rc !== 0) return rc;
        // THE FAULT: `if (prot & IOMMU_READ) pte |= ARM_LPAE_PTE_HAP_WRITE;`
        const lo = (t.attrs[0] as number) & ~ARM_HAP_WRITE;
        t.attrs[0] = prot & IOMMU_READ ? lo | ARM_HAP_WRITE : lo;
        return 0;
      });
    },
  });
}
