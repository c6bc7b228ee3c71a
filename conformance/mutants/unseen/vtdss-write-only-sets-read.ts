/**
 * vtdss-write-only-sets-read — drivers/iommu/generic_pt/fmt/vtdss.h
 * vtdss_pt_iommu_set_prot() (7.3: the VT-d second-stage format of
 * generic_pt, used by every intel paging domain; 6.12's intel/iommu.c
 * __domain_mapping is another function and is left alone).
 *
 * The kernel's leaf attributes:
 *
 *     // VTDSS does not have a present bit, so we tell if any entry is present
 *     // by checking for R or W.
 *     if (!(iommu_prot & (IOMMU_READ | IOMMU_WRITE)))
 *             return -EINVAL;
 *
 *     if (iommu_prot & IOMMU_READ)
 *             pte |= VTDSS_FMT_R;
 *     if (iommu_prot & IOMMU_WRITE)
 *             pte |= VTDSS_FMT_W;
 *
 * THE FAULT: the "no present bit" comment is taken to mean R has to stand in
 * for one, as the old intel driver did with `attr |= DMA_FL_PTE_PRESENT`
 * (bit 0, which is R in a second-stage entry) before "iommu/vt-d: Restore WO
 * permissions on second-level paging entries":
 *
 *     pte = VTDSS_FMT_R;              // "present"
 *     if (iommu_prot & IOMMU_WRITE)
 *             pte |= VTDSS_FMT_W;
 *
 * Only a write-only map changes: IOMMU_IOAS_MAP with IOMMU_IOAS_MAP_WRITEABLE
 * and without IOMMU_IOAS_MAP_READABLE (a receive buffer the device may fill
 * but must not read back, e.g. memory that still holds the user's secrets),
 * or an IOMMU_IOAS_COPY of such an area. Its leaves in a VT-d domain get R|W.
 *
 * Observable (7.3, a device behind vtd0 / vtd1 / vtd2 attached to an IOAS
 * with a write-only area): a device read of the area succeeds and returns
 * the user's bytes where the kernel's IOMMU faults it (permission);
 * `translate` reports read: true. Read-only and read/write maps, the mock,
 * AMD and SMMU domains are unchanged.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { IOMMU_READ, IOMMU_WRITE } from '../../../impl/platform/hw.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';

/** The IoPageTable's pt_iommu_set_prot (protected in the reference), used by every map of the table. */
interface SetProt {
  setProt(prot: number): number;
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('vtdss-write-only-sets-read', profile, {
    domain: (d) => {
      if (profile !== '7.3' || d.owner.name !== 'intel') return;
      const pt = d.hw?.pt;
      if (!pt || pt.fmt.name !== 'vtd-ss') return;
      // THE FAULT: R stands in for a present bit, so a write-only leaf is readable too.
      patchOwn(pt as unknown as SetProt, 'setProt', (setProt) => (prot: number) => setProt(prot & IOMMU_WRITE ? prot | IOMMU_READ : prot));
    },
  });
}
