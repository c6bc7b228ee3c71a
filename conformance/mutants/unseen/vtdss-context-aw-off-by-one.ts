/**
 * vtdss-context-aw-off-by-one (drivers/iommu/generic_pt/fmt/vtdss.h
 * vtdss_pt_iommu_fmt_hw_info, consumed by drivers/iommu/intel/pasid.c
 * pasid_pte_config_second_level and intel/iommu.c domain_context_mapping_one).
 *
 * The VT-d second-stage table tells the driver how deep it is through
 * pt_iommu_vtdss_hw_info(); the driver writes that into the PASID entry
 * (pasid_set_address_width) or the legacy context entry
 * (context_set_address_width), and the hardware walks that many levels from
 * SSPTPTR. The AW encoding is "levels - 2":
 *     / * top_level = 2 = 3 level table aw=1
 *        top_level = 3 = 4 level table aw=2
 *        top_level = 4 = 5 level table aw=3 * /
 *     info->aw = top_range->top_level - 1;
 * The fault applies the "levels - 2" formula to the 0-based top_level:
 *     info->aw = top_range->top_level - 2;
 * so a 4-level table (vtd0, vtd2) is programmed as a 3-level one (vtd1's
 * 3-level table as a 2-level one). Maps, unmaps and iova_to_phys (CPU side)
 * are unchanged; only what the IOMMU walks differs.
 *
 * Consequence: the IOMMU starts one level too low. The root (PML4) is read as
 * a PDPT, the PDPT as a PD, and the entries of the PD — pointers to the
 * leaf tables, or 2M leaves — are taken as 4K leaves. A device DMA at IOVA
 * k*4K (k < 512, below the first 2M) lands in the page-table page (or the 2M
 * block) that translates IOVA k*2M: the device reads the domain's PTEs
 * (physical addresses of the user's pages) and, through a writable mapping,
 * rewrites them — it can then map any physical page it likes. DMA to the
 * IOVAs the user really mapped faults instead (or lands elsewhere), and
 * IOVAs at or above 2^39 give an address-size fault. (On a unit whose SAGAW
 * lacks the shorter table the entry is invalid and every DMA of the device
 * faults; the simulated unit walks what it is given.)
 *
 * Applied as: the VT-d hardware model's device contexts for 7.3 (generic_pt)
 * second-stage domains are built with a top level one below the table's.
 * 6.12 (intel/iommu.c, domain->agaw) is left alone.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import type { HwDomain } from '../../../impl/platform/hw.ts';
import { prepare, type WalkTable } from '../../../impl/iommu/walker.ts';
import { hwUnits, mutantImplementation, patchOwn } from '../harness.ts';

/** The hardware model's context builder (a private method of impl/iommu IommuInstance). */
type ContextBuilder = { contextFor(d: HwDomain): WalkTable | null };

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('vtdss-context-aw-off-by-one', profile, {
    machine: (m) => {
      const hw = hwUnits(m).find((h) => h.vendor === 'vtd');
      if (!hw) return;
      patchOwn(hw as unknown as ContextBuilder, 'contextFor', (contextFor) => (d) => {
        const t = contextFor(d);
        if (t === null || d.pt === null || d.pt.g.driver !== 'generic_pt' || t.topLevel < 1) return t;
        // THE FAULT: pasid_set_address_width(pte, top_level - 2): one level fewer than the table has.
        const shallow: WalkTable = {
          kind: t.kind,
          fmt: t.fmt,
          granLg2: t.granLg2,
          bitsPerLevel: t.bitsPerLevel,
          root: t.root,
          topLevel: t.topLevel - 1,
          topEntries: 2 ** t.bitsPerLevel,
          vaBits: t.vaBits - t.bitsPerLevel,
          hd: t.hd,
        };
        prepare(shallow);
        return shallow;
      });
    },
  });
}
