/**
 * smmu-s2-inv-vmid-in-asid-slot (drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3.c
 * __arm_smmu_domain_inv_range, 7.3).
 *
 * The 7.3 driver invalidates a domain through its invalidation array: one
 * entry per (SMMU, tag), INV_TYPE_S1_ASID for a stage-1 domain and
 * INV_TYPE_S2_VMID for a stage-2 one (an IOMMU_HWPT_ALLOC_NEST_PARENT HWPT).
 * Each entry becomes a TLBI command whose ASID and VMID fields are filled by
 * arm_smmu_make_cmd_tlbi(opcode, asid, vmid):
 *
 *     case INV_TYPE_S1_ASID:
 *             cmd = arm_smmu_make_cmd_tlbi(cur->size_opcode,
 *                                          cur->id, 0);
 *             ...
 *     case INV_TYPE_S2_VMID:
 *             cmd = arm_smmu_make_cmd_tlbi(cur->size_opcode,
 *                                          0, cur->id);
 *
 * The fault copies the S1 case's argument order into the S2 case
 * (`arm_smmu_make_cmd_tlbi(cur->size_opcode, cur->id, 0)`): the VMID lands in
 * the ASID field, which CMD_TLBI_S2_IPA ignores, and the command invalidates
 * VMID 0 — a VMID no domain uses. Every range invalidation of a stage-2
 * domain (iotlb_sync after an unmap, io-pgtable's walk flush of a freed
 * table; the too-big-for-a-range S12_VMALL takes the same cmd) leaves that
 * domain's IOTLB and walk-cache entries alive. The tag flush on the last
 * detach (arm_smmu_inv_flush_iotlb_tag) builds its own command and is right,
 * and stage-1 domains are untouched: only a device attached to a nesting
 * parent keeps translating an IOVA after IOMMU_IOAS_UNMAP returned (and the
 * pages were unpinned).
 *
 * Applied as: the SMMUv3 unit's range invalidation of a stage-2 domain is
 * issued with tag 0 instead of the domain's VMID.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import type { HwDomain } from '../../../impl/platform/hw.ts';
import { K_ARM_S2 } from '../../../impl/pagetable/format.ts';
import { hwUnits, mutantImplementation, patchOwn } from '../harness.ts';

/** The VMID an S2_IPA command carries when the id went into its ASID field. */
const VMID_IN_COMMAND = 0;

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('smmu-s2-inv-vmid-in-asid-slot', profile, {
    machine: (m) =>
      hwUnits(m).forEach((hw) => {
        if (hw.vendor !== 'smmuv3') return;
        patchOwn(hw, 'smmuFlushRange', (flush) => (d: HwDomain, iova: number, size: number, leaf: boolean, pgsizeLg2: number) => {
          if (d.pt === null || d.pt.g.kind !== K_ARM_S2) return flush(d, iova, size, leaf, pgsizeLg2);
          // THE FAULT: arm_smmu_make_cmd_tlbi(cur->size_opcode, cur->id, 0) for INV_TYPE_S2_VMID.
          return flush(Object.create(d, { tag: { value: VMID_IN_COMMAND } }) as HwDomain, iova, size, leaf, pgsizeLg2);
        });
      }),
  });
}
