/**
 * smmu612-flush-ops-no-flush-all — drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3.c
 * (6.12): the io-pgtable flush ops of an SMMUv3 domain, through which
 * arm_smmu_domain_free_paging() invalidates a stage-1 domain's ASID before
 * giving the ASID back.
 *
 * In 6.12 a stage-1 domain's ASID is taken when the domain is allocated
 * (arm_smmu_domain_finalise_s1: the lowest free one,
 * `xa_alloc(&arm_smmu_asid_xa, &asid, smmu_domain, XA_LIMIT(1, (1 << smmu->asid_bits) - 1), GFP_KERNEL)`),
 * TLB entries are tagged with it, and detaching a master flushes nothing:
 * unmaps keep invalidating by ASID whether or not a master is attached, and
 * the one invalidation of the whole ASID happens when the domain is freed:
 *
 *     static void arm_smmu_domain_free_paging(struct iommu_domain *domain)
 *     {
 *             ...
 *             free_io_pgtable_ops(smmu_domain->pgtbl_ops);   // io_pgtable_tlb_flush_all(iop) first
 *
 *             // Free the ASID or VMID
 *             if (smmu_domain->stage == ARM_SMMU_DOMAIN_S1) {
 *                     mutex_lock(&arm_smmu_asid_lock);
 *                     xa_erase(&arm_smmu_asid_xa, smmu_domain->cd.asid);
 *                     mutex_unlock(&arm_smmu_asid_lock);
 *             } ...
 *
 *     static const struct iommu_flush_ops arm_smmu_flush_ops = {
 *             .tlb_flush_all  = arm_smmu_tlb_inv_context,  // arm_smmu_tlb_inv_asid(smmu, cd.asid)
 *             .tlb_flush_walk = arm_smmu_tlb_inv_walk,
 *             .tlb_add_page   = arm_smmu_tlb_inv_page_nosync,
 *     };
 *
 * and io_pgtable_tlb_flush_all() calls the op only if the driver set it:
 *
 *     if (iop->cfg.tlb && iop->cfg.tlb->tlb_flush_all)
 *             iop->cfg.tlb->tlb_flush_all(iop->cookie);
 *
 * THE FAULT: `.tlb_flush_all` is left out of arm_smmu_flush_ops (a cleanup
 * that saw iommu_flush_iotlb_all already calling arm_smmu_tlb_inv_context
 * directly, and took the io-pgtable hook for dead code). Nothing fails: the
 * free path silently skips the CMD_TLBI_NH_ASID, frees the page table, and
 * puts the ASID back into the xarray.
 *
 * Why it needs several commands and two objects: a device's DMA must first
 * fill the TLB under the domain's ASID; the domain must then be freed (the
 * last device leaving an automatic HWPT, IOMMU_DESTROY of a HWPT, closing the
 * iommufd); and only the *next* stage-1 domain allocated on the SMMU trips
 * over it: xa_alloc hands it the freed ASID (lowest free), so its devices
 * hit the old domain's cached translations (and its walk-cache entries, which
 * point into freed table pages) at every IOVA the old device used — reading
 * and writing pages the old IOAS mapped there (possibly unmapped and unpinned
 * since, or mapped by another iommufd context), where their own IOAS maps
 * something else or nothing. While the old domain lives nothing is wrong, and
 * `translate` (a walk of the new domain's table) is right throughout.
 *
 * Applied as (6.12 only; 7.3 flushes on the last master's departure through
 * the invalidation array, so the free-time hook does not matter there):
 * stage-1 SMMU paging domains carry ASIDs handed out lowest-free from 1 and
 * given back when the domain is freed; the free does not invalidate the ASID.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import type { HwDomain } from '../../../impl/platform/hw.ts';
import { hwUnits, mutantImplementation, patchOwn } from '../harness.ts';

/** The fault switch: false gives the kernel's CMD_TLBI_NH_ASID at free (the reference's behaviour). */
const FREE_SKIPS_TLBI_ASID = true;

/** Tags of ASID n are ASID_TAG_BASE + n (away from the model's own sequential tags). */
const ASID_TAG_BASE = 0x10000;

export function createAdapter(profile: Profile): Implementation {
  /** arm_smmu_asid_xa of the current machine (a reset makes a new machine and a new xarray). */
  let asids = new Map<HwDomain, number>();
  let inUse = new Set<number>();
  const setTag = (d: HwDomain, tag: number): void => {
    (d as unknown as { tag: number }).tag = tag;
  };
  return mutantImplementation('smmu612-flush-ops-no-flush-all', profile, {
    machine: (m) => {
      asids = new Map();
      inUse = new Set();
      if (profile !== '6.12') return;
      const hw = hwUnits(m).find((h) => h.vendor === 'smmuv3');
      if (!hw) return;
      // arm_smmu_domain_free_paging(): free_io_pgtable_ops() (the TLBI that is no longer sent), then xa_erase().
      patchOwn(hw, 'forgetDomain', (forget) => (d: HwDomain) => {
        const asid = asids.get(d);
        if (asid === undefined) {
          forget(d);
          return;
        }
        asids.delete(d);
        if (FREE_SKIPS_TLBI_ASID) {
          // THE FAULT: io_pgtable_tlb_flush_all() finds no tlb_flush_all op; the ASID's TLB and
          // walk-cache entries stay.
          const tag = d.tag;
          setTag(d, -3);
          try {
            forget(d);
          } finally {
            setTag(d, tag);
          }
        } else {
          forget(d); // arm_smmu_tlb_inv_asid(smmu, asid)
        }
        inUse.delete(asid); // xa_erase(&arm_smmu_asid_xa, asid)
      });
    },
    // arm_smmu_domain_finalise_s1(): the lowest free ASID, from 1.
    domain: (d) => {
      if (profile !== '6.12' || d.owner.name !== 'smmuv3' || !d.hw) return;
      let asid = 1;
      while (inUse.has(asid)) asid++;
      inUse.add(asid);
      asids.set(d.hw, asid);
      setTag(d.hw, ASID_TAG_BASE + asid);
    },
  });
}
