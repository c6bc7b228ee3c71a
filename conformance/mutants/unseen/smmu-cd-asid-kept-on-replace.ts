/**
 * smmu-cd-asid-kept-on-replace (drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3.c
 * arm_smmu_attach_dev / arm_smmu_make_s1_cd, the CD written by
 * arm_smmu_write_cd_entry).
 *
 * A stage-1 paging domain owns an ASID (smmu_domain->cd.asid); attaching a
 * master writes its context descriptor from the domain alone:
 *     arm_smmu_make_s1_cd(&target_cd, master, smmu_domain);
 *         target->data[0] = ... | FIELD_PREP(CTXDESC_CD_0_ASID, smmu_domain->cd.asid);
 *         target->data[1] = cpu_to_le64(pgtbl_cfg->arm_lpae_s1_cfg.ttbr & CTXDESC_CD_1_TTB0_MASK);
 *         target->data[3] = cpu_to_le64(pgtbl_cfg->arm_lpae_s1_cfg.mair);
 *     arm_smmu_write_cd_entry(master, IOMMU_NO_PASID, cdptr, &target_cd);
 * and the domain's invalidations (TLBI_NH_VA / TLBI_NH_ASID) are issued with
 * that ASID.
 *
 * The fault: when the CD is already valid — a replace, the master going from
 * one paging domain straight to another — the target is built from the live
 * CD and only the translation fields (TTB0, TCR, MAIR) are refreshed, to keep
 * the master's other CD bits; qword 0's CTXDESC_CD_0_ASID is not rewritten,
 * so the master walks the new domain's table under the old domain's ASID. A
 * first attach, or one after a detach (the CD was cleared), is correct.
 *
 * Consequence: after IOMMU_HWPT/VFIO_DEVICE_ATTACH_IOMMUFD_PT replaces A by B
 * for an SMMUv3 device, (1) translations the device cached while on A are
 * still hits for it on B, so it keeps reaching A's pages at IOVAs where B maps
 * something else or nothing (A may belong to another IOAS or another
 * context); (2) what it walks on B is cached under A's ASID, which B's unmaps
 * never invalidate, so after IOMMU_IOAS_UNMAP on B the device still reaches
 * the unpinned pages; (3) other devices still on A hit the entries it filled
 * from B's table.
 *
 * Applied as: on the SMMUv3 unit's hardware model, a device context rewritten
 * from one domain to another keeps the previous cache tag.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import type { HwDomain } from '../../../impl/platform/hw.ts';
import { hwUnits, mutantImplementation, patchOwn } from '../harness.ts';

/** The hardware model's device table (private in impl/iommu IommuInstance): stream id (+PASID) -> context. */
interface DeviceTable {
  readonly devices: Map<number, { domain: HwDomain; tag: number }>;
  attach(sid: number, domain: HwDomain | null, pasid?: number): number;
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('smmu-cd-asid-kept-on-replace', profile, {
    machine: (m) => {
      const hw = hwUnits(m).find((h) => h.vendor === 'smmuv3');
      if (!hw) return;
      const table = hw as unknown as DeviceTable;
      patchOwn(table, 'attach', (attach) => (sid, domain, pasid = 0) => {
        const key = sid * 1048576 + pasid;
        const live = table.devices.get(key);
        const liveTag = live?.tag;
        const liveDomain = live?.domain;
        const rc = attach(sid, domain, pasid);
        if (domain !== null && liveTag !== undefined && liveDomain !== domain) {
          const ctx = table.devices.get(key);
          // THE FAULT: the CD rewritten in place keeps CTXDESC_CD_0_ASID of the live CD.
          if (ctx) ctx.tag = liveTag;
        }
        return rc;
      });
    },
  });
}
