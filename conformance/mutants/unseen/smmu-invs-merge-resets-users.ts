/**
 * smmu-invs-merge-resets-users (drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3.c
 * arm_smmu_invs_merge, 7.3: the per-domain invalidation array).
 *
 * A 7.3 SMMUv3 paging domain keeps an array of the invalidations its
 * map/unmap must issue (arm_smmu_domain_inv_range walks it): for a stage-1
 * domain one INV_TYPE_S1_ASID entry per SMMU instance its masters sit behind,
 * with a `users` count of the masters that need it. Attaching a master merges
 * the master's build_invs into the array (arm_smmu_attach_prepare_invs);
 * detaching unreferences them (arm_smmu_install_old_domain_invs), and an
 * entry whose count drops to zero becomes trash: its ASID is flushed whole
 * once ("any ASID/VMID not in an invs array must be left cleared in the
 * IOTLB") and later range invalidations skip it. The merge of an entry the
 * array already holds adds a user:
 *
 *     arm_smmu_invs_for_each_cmp(invs, i, to_merge, j, cmp) {
 *             if (cmp < 0) {
 *                     *new = invs->inv[i];
 *             } else if (cmp == 0) {
 *                     *new = invs->inv[i];
 *                     WRITE_ONCE(new->users, READ_ONCE(new->users) + 1);
 *             } else {
 *                     *new = to_merge->inv[j];
 *                     WRITE_ONCE(new->users, 1);
 *             }
 *
 * The fault writes `WRITE_ONCE(new->users, 1)` in the `cmp == 0` branch too
 * (the copy of the branch below it): a second master attached to a domain
 * whose ASID entry is already there leaves the count at 1.
 *
 * Observably, through two devices: A and B (two groups behind the SMMU) share
 * one HWPT; A is detached (or replaced, or unplugged). The count falls to 0,
 * the ASID is flushed once and the entry is trashed, although B still uses
 * the domain. From then on no unmap of the domain issues a TLBI: B's IOTLB
 * entries outlive IOAS_UNMAP, so B's DMA keeps reaching pages iommufd has
 * unpinned and the process may have unmapped and the allocator reused —
 * until B leaves too, or a master attaches again and the entry comes back.
 *
 * Applied as: the SMMUv3 unit keeps, per paging domain, the users count of
 * its ASID entry across attach/detach (merge before the STE is installed,
 * unref after, the ASID flushed when it reaches 0), and issues a domain's
 * range and ASID invalidations only while the entry has users; the merge has
 * the fault.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import type { HwDomain } from '../../../impl/platform/hw.ts';
import type { IotlbGather } from '../../../impl/pagetable/gather.ts';
import { hwUnits, mutantImplementation, patchOwn } from '../harness.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('smmu-invs-merge-resets-users', profile, {
    machine: (m, env) => {
      if (env.profile !== '7.3') return; // 6.12's SMMUv3 driver has no invalidation array
      const hw = hwUnits(m).find((h) => h.vendor === 'smmuv3');
      if (!hw) return;
      /** users of each domain's S1_ASID entry (absent: never attached; 0: trashed). */
      const users = new Map<HwDomain, number>();
      /** The domain each stream (+ PASID) is attached to. */
      const cur = new Map<number, HwDomain>();
      patchOwn(hw, 'attach', (attach) => (sid: number, domain: HwDomain | null, pasid = 0) => {
        const key = sid * 1048576 + pasid;
        const prev = cur.get(key);
        if (domain !== null && prev === domain) return attach(sid, domain, pasid);
        // arm_smmu_attach_prepare_invs: merge the master's build_invs into the new domain's array.
        if (domain !== null && domain.pt !== null) {
          const n = users.get(domain) ?? 0;
          if (n > 0) users.set(domain, 1); // THE FAULT: cmp == 0 sets users to 1, not users + 1
          else users.set(domain, 1); // cmp > 0: a new (or trashed, now purged) entry
        }
        const rc = attach(sid, domain, pasid);
        if (domain !== null) cur.set(key, domain);
        else cur.delete(key);
        // arm_smmu_install_old_domain_invs: unref the old domain's entry; flush the ASID when trashed.
        if (prev !== undefined) {
          const n = users.get(prev) ?? 0;
          if (n > 0) {
            users.set(prev, n - 1);
            if (n - 1 === 0) hw.smmuTlbiTag(1, prev.tag);
          }
        }
        return rc;
      });
      // arm_smmu_domain_inv_range walks the array: a trashed entry issues nothing.
      patchOwn(hw, 'flushGather', (flush) => (d: HwDomain, g: IotlbGather) => {
        if (users.get(d) === 0) return;
        flush(d, g);
      });
    },
  });
}
