/**
 * smmu-blocked-ste-bypass (drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3.c
 * arm_smmu_attach_dev_blocked).
 *
 * The SMMUv3 blocking domain is what the iommu core attaches to a device's
 * group while an owner (iommufd) holds DMA ownership but no paging domain is
 * attached: after VFIO_DEVICE_BIND_IOMMUFD (iommu_device_claim_dma_owner →
 * __iommu_take_dma_ownership) and after VFIO_DEVICE_DETACH_IOMMUFD_PT
 * (iommu_detach_group). Its attach writes an ABORT stream table entry:
 *     static int arm_smmu_attach_dev_blocked(struct iommu_domain *domain,
 *                                            struct device *dev)
 *     {
 *             struct arm_smmu_ste ste;
 *             ...
 *             arm_smmu_make_abort_ste(&ste);
 *             arm_smmu_attach_dev_ste(domain, dev, &ste,
 *                                     STRTAB_STE_1_S1DSS_TERMINATE);
 *             return 0;
 *     }
 * The fault is the copy-and-paste slip from its neighbour
 * arm_smmu_attach_dev_identity(): the blocked attach builds its STE with
 * arm_smmu_make_bypass_ste() (STE.Config = 0b100, S1DSS_BYPASS) — the same
 * outcome the old arm_smmu_write_strtab_ent() had when its `disable_bypass`
 * test was inverted.
 *
 * Consequence: a device behind the SMMU whose group iommufd owns but has not
 * attached (bound and not yet attached, or detached) is not blocked: its DMA
 * is not translated at all, IOVA = physical address. The user (or the device
 * it drives) reads and writes any physical page of the machine — other
 * processes' memory, other contexts' pinned buffers, the IOMMU's own page
 * tables — where it must get a translation abort. The software view of the
 * domain (`translate`, which looks at the blocking domain's — empty — page
 * table) is unchanged; only the hardware's behaviour is.
 *
 * Applied as: a device DMA on the `smmuv3` unit while its group is on the
 * group's blocking domain goes to physical memory untranslated (a physical
 * address beyond RAM is a bus abort, reported as `unmapped`). Other units,
 * and groups on the kernel's default domain (not owned), are unchanged.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import type { Machine } from '../../../impl/platform/index.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';

type DmaFn = Machine['dma'];
type Piece = { pa: number; off: number; n: number };
type Touched = { buffer: number; offset: number; length: number }[];

const PAGE = 4096;

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('smmu-blocked-ste-bypass', profile, {
    machine: (m) => {
      patchOwn(m, 'dma', (dma: DmaFn): DmaFn => (handle, iova, dir, data, length, pasid) => {
        const dev = m.device(handle);
        if (!dev || pasid !== undefined) return dma(handle, iova, dir, data, length, pasid);
        const g = dev.group;
        if (dev.iommu.driver.name !== 'smmuv3' || g.domain !== g.blockingDomain) return dma(handle, iova, dir, data, length, pasid);
        // THE FAULT: the blocked STE is a bypass STE — no translation, IOVA = PA.
        const len = dir === 'write' ? (data?.length ?? 0) : length;
        if (len === 0) return { ok: true, ...(dir === 'read' ? { data: new Uint8Array(0) } : {}), touched: [] };
        const mem = m.memory;
        if (iova < 0n || iova + BigInt(len) > BigInt(mem.size)) return { ok: false, fault: 'unmapped' };
        const start = Number(iova);
        const pieces: Piece[] = [];
        for (let off = 0; off < len; ) {
          const cur = start + off;
          const n = Math.min(PAGE - (cur % PAGE), len - off);
          pieces.push({ pa: cur, off, n });
          off += n;
        }
        const out = dir === 'read' ? new Uint8Array(len) : undefined;
        for (const p of pieces) {
          if (out) out.set(mem.u8.subarray(p.pa, p.pa + p.n), p.off);
          else if (data) mem.u8.set(data.subarray(p.off, p.off + p.n), p.pa);
        }
        const touched = (m as unknown as { touched(p: readonly Piece[]): Touched }).touched(pieces);
        return { ok: true, ...(out ? { data: out } : {}), touched };
      });
    },
  });
}
