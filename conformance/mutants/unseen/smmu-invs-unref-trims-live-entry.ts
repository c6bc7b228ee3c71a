/**
 * smmu-invs-unref-trims-live-entry (7.3: drivers/iommu/arm/arm-smmu-v3/
 * arm-smmu-v3.c arm_smmu_invs_unref, called by
 * arm_smmu_install_old_domain_invs when a master leaves a domain).
 *
 * A 7.3 SMMUv3 paging domain invalidates through smmu_domain->invs, a sorted
 * array of (SMMU, ASID/VMID, …) entries with a user count: every master
 * attached to the domain merges its entries in (users++) and unreferences
 * them when it leaves. Unmaps (arm_smmu_iotlb_sync → the domain's invs)
 * issue TLBIs only for entries below invs->num_invs. arm_smmu_invs_unref
 * drops the count and trims trailing entries nobody uses any more; an entry
 * that still has users must stay inside num_invs:
 *
 *     arm_smmu_invs_for_each_cmp(invs, i, to_unref, j, cmp) {
 *             if (cmp < 0) {
 *                     /* not found in to_unref, leave alone *\/
 *                     num_invs = i + 1;
 *             } else if (cmp == 0) {
 *                     int users = READ_ONCE(invs->inv[i].users) - 1;
 *                     ...
 *                     WRITE_ONCE(invs->inv[i].users, users);
 *                     if (users) {
 *                             WRITE_ONCE(to_unref->inv[j].users, 1);
 *                             num_invs = i + 1;
 *                             continue;
 *                     }
 *                     ...
 *     }
 *     /* Exclude any tailing trash *\/
 *     invs->num_trashes -= invs->num_invs - num_invs;
 *     ...
 *     WRITE_ONCE(invs->num_invs, num_invs);
 *
 * THE FAULT: the still-used branch loses its `num_invs = i + 1;` (it reads
 * like the bookkeeping of the other branch; only `continue` is kept):
 *
 *                     if (users) {
 *                             WRITE_ONCE(to_unref->inv[j].users, 1);
 *                             continue;
 *                     }
 *
 * An entry whose count stays above zero is then treated as tailing trash
 * when nothing after it is in use — and on a single SMMU a stage-1 domain's
 * array is exactly one entry, its ASID. The caller sees users = 1 and does
 * not flush the ASID (it is "still invalidated by map/unmap"), while the
 * array now ends before it.
 *
 * Consequence (two masters, one domain): two SMMUv3 devices share a HWPT
 * (an IOAS's automatic domain, or a user HWPT both attach to); one of them
 * is detached, replaced elsewhere or closed. From then on the domain's
 * unmaps send no TLBI at all, while the other device is still attached and
 * still caching translations under the ASID: after IOMMU_IOAS_UNMAP it keeps
 * reading and writing the unmapped, unpinned pages (and the old pages of an
 * IOVA mapped again). It lasts until a master joins the domain again (the
 * merge puts a fresh ASID entry back into the array) or the last master
 * leaves (the unref then finds nothing and the caller flushes the ASID).
 *
 * Applied as (7.3 only; 6.12 invalidates through the domain's device list):
 * on the SMMUv3 unit each paging domain keeps its invalidation entry and its
 * user count from the device contexts programmed with it; unmaps of a domain
 * whose entry is outside the array issue nothing; a leaving master that is
 * the last one flushes the ASID; one that is not trims the entry (the fault).
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import type { HwDomain } from '../../../impl/platform/hw.ts';
import { K_ARM_S2 } from '../../../impl/pagetable/format.ts';
import { hwUnits, mutantImplementation, patchOwn } from '../harness.ts';

const PASID_STRIDE = 1048576;

/** The domain's ASID entry in smmu_domain->invs: its user count and whether it is below num_invs. */
interface InvEntry {
  users: number;
  inArray: boolean;
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('smmu-invs-unref-trims-live-entry', profile, {
    machine: (m) => {
      if (profile !== '7.3') return;
      const hw = hwUnits(m).find((h) => h.vendor === 'smmuv3');
      if (!hw) return;
      const invs = new Map<HwDomain, InvEntry>();
      /** The domain each (master, SSID) is attached to. */
      const attachedTo = new Map<number, HwDomain>();
      const flushTag = (d: HwDomain): void => hw.smmuTlbiTag(d.pt !== null && d.pt.g.kind === K_ARM_S2 ? 2 : 1, d.tag);

      // arm_smmu_invs_merge: an entry found in the array gets users++, a new one users = 1.
      const merge = (d: HwDomain): void => {
        const e = invs.get(d);
        if (e && e.inArray) e.users++;
        else invs.set(d, { users: 1, inArray: true });
      };
      // arm_smmu_invs_unref + arm_smmu_install_old_domain_invs.
      const unref = (d: HwDomain): void => {
        const e = invs.get(d);
        if (!e || !e.inArray) {
          // Not in the array: to_unref keeps users = 0, so the caller flushes the ASID.
          flushTag(d);
          return;
        }
        e.users--;
        if (e.users > 0) {
          // THE FAULT: num_invs = i + 1 is lost for an entry still in use: it is trimmed as tailing trash,
          // and the caller (to_unref users = 1) does not flush.
          e.inArray = false;
          return;
        }
        e.inArray = false;
        flushTag(d); // "any ASID/VMID not in an invs array must be left cleared in the IOTLB"
      };

      patchOwn(hw, 'attach', (attach) => (sid: number, domain: HwDomain | null, pasid = 0) => {
        const key = sid * PASID_STRIDE + pasid;
        const prev = attachedTo.get(key);
        if (prev === domain) return attach(sid, domain, pasid);
        if (domain !== null) merge(domain); // arm_smmu_attach_prepare_invs → arm_smmu_install_new_domain_invs
        const rc = attach(sid, domain, pasid);
        if (domain !== null) attachedTo.set(key, domain);
        else attachedTo.delete(key);
        if (prev !== undefined) unref(prev); // arm_smmu_install_old_domain_invs
        return rc;
      });

      // arm_smmu_iotlb_sync / arm_smmu_domain_inv_range: only the entries inside the array are invalidated.
      patchOwn(hw, 'flushGather', (flushGather) => (d, g) => {
        const e = invs.get(d);
        if (!e || !e.inArray) return;
        flushGather(d, g);
      });
    },
  });
}
