/**
 * Round 7b fault (drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3.c
 * arm_smmu_install_old_domain_invs, 7.3's per-domain invalidation array).
 *
 * A paging domain invalidates through smmu_domain->invs, the list of
 * (SMMU, ASID/VMID) tags its attached masters use; map/unmap/iotlb_sync
 * only issue TLBIs for the tags in it. When the last master of an SMMU
 * leaves the domain (detach to the blocking domain, replace), its tag is
 * unreferenced and dropped from the array, and
 *     if (!READ_ONCE(invst->new_invs->inv[0].users))
 *             arm_smmu_inv_flush_iotlb_tag(&invst->new_invs->inv[0]);
 * must clear the ASID right away: "any ASID/VMID not in an invs array must be
 * left cleared in the IOTLB". The fault drops that flush. The ASID keeps its
 * IOTLB entries while no unmap invalidates it any more.
 *
 * Consequence: detach a device from a HWPT it keeps (IOMMU_HWPT_ALLOC'd, or
 * shared with another IOAS user), unmap an IOVA (the pages are unpinned and
 * reused), and attach again: the domain's ASID comes back into the array
 * with the stale entries, and the device reads and writes the freed pages
 * through the IOVA that no longer exists.
 *
 * Applied as (7.3 only): on the SMMUv3 unit, when an attach or detach leaves a domain
 * with no device context, the domain is marked as having no invalidation
 * targets (its unmaps issue no TLBI) until it is attached again, and no flush
 * is made at that point.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import type { HwDomain } from '../../../impl/platform/hw.ts';
import { hwUnits, mutantImplementation, patchOwn } from '../harness.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('smmu-invs-unref-no-tag-flush', profile, {
    machine: (m) =>
      hwUnits(m).forEach((hw) => {
        // smmu_domain->invs is 7.3's; 6.12 invalidates by ASID whatever is attached.
        if (hw.vendor !== 'smmuv3' || profile !== '7.3') return;
        const contexts = (hw as unknown as { devices: Map<number, { domain: HwDomain }> }).devices;
        patchOwn(hw, 'attach', (attach) => (sid: number, domain: HwDomain | null, pasid = 0) => {
          const old = contexts.get(sid * 1048576 + pasid)?.domain;
          const rc = attach(sid, domain, pasid);
          if (old && old !== domain && ![...contexts.values()].some((c) => c.domain === old)) {
            // arm_smmu_invs_unref: the ASID leaves smmu_domain->invs ...
            old.everAttached = false;
            // THE FAULT: ... without arm_smmu_inv_flush_iotlb_tag().
          }
          return rc;
        });
      }),
  });
}
