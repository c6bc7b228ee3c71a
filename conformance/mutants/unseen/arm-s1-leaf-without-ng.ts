/**
 * arm-s1-leaf-without-ng (drivers/iommu/io-pgtable-arm.c arm_lpae_prot_to_pte).
 *
 * A stage-1 leaf must be non-global: its TLB entries are then tagged with
 * the ASID of the context descriptor that walked it, and a translation
 * cached for one domain is never a hit for another. arm_lpae_prot_to_pte
 * starts every stage-1 PTE from nG:
 *     if (data->iop.fmt == ARM_64_LPAE_S1 || data->iop.fmt == ARM_32_LPAE_S1) {
 *             pte = ARM_LPAE_PTE_nG;
 *             if (!(prot & IOMMU_WRITE) && (prot & IOMMU_READ))
 *                     pte |= ARM_LPAE_PTE_AP_RDONLY;
 *             else if (data->iop.cfg.quirks & IO_PGTABLE_QUIRK_ARM_HD)
 *                     pte |= ARM_LPAE_PTE_DBM;
 *             if (!(prot & IOMMU_PRIV))
 *                     pte |= ARM_LPAE_PTE_AP_UNPRIV;
 *     }
 * The fault is a rework of that block (the DBM/AP split) that starts from
 * `pte = 0` and ORs the bits in, losing nG: every stage-1 leaf the SMMUv3
 * driver writes is global (nG = 0).
 *
 * What the SMMU does with a global leaf (Arm SMMUv3, TLB tagging): the TLB
 * entry it fills matches *any* ASID of the same VMID — every stage-1 context
 * of the unit, i.e. every SMMUv3 paging domain here. CMD_TLBI_NH_VA (what an
 * unmap issues) invalidates global entries of its range whatever their ASID;
 * CMD_TLBI_NH_ASID (domain teardown) does not touch them.
 *
 * Consequence: once device A has used IOVA X through its domain, device B
 * attached to another SMMUv3 domain — another HWPT, another IOAS, another
 * iommufd context — that accesses X hits A's cached translation and reads or
 * writes A's page instead of its own (or instead of faulting where B maps
 * nothing), until A unmaps X. The same happens to one device replaced from
 * domain A to domain B. Every IOAS allocates its IOVAs from the same low
 * addresses, so the collisions are the common case, not a corner.
 *
 * Applied as: the SMMUv3 paging domains write their stage-1 leaves without
 * nG, and the smmuv3 unit's hardware honours nG: a translation through a
 * leaf without it is cached as a global entry (per accessed 4 KiB page, like
 * the unit's IOTLB model), looked up before the walk for every stage-1
 * context, dropped by CMD_TLBI_NH_VA ranges covering it and by stage-2
 * VMALL, kept by CMD_TLBI_NH_ASID. The `iotlb` observation of smmu0 lists
 * them under the tag "global".
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import type { Machine } from '../../../impl/platform/index.ts';
import type { HwIommu } from '../../../impl/platform/hw.ts';
import { K_ARM_S1 } from '../../../impl/pagetable/format.ts';
import { ARM_NG } from '../../../impl/pagetable/fmt/armv8.ts';
import { ACC_READ, ACC_WRITE } from '../../../impl/iommu/walker.ts';
import type { IoPageTable } from '../../../impl/pagetable/table.ts';
import type { WalkTable } from '../../../impl/iommu/walker.ts';
import type { HwDomain } from '../../../impl/platform/hw.ts';
import { hwUnits, mutantImplementation, patchOwn } from '../harness.ts';

interface Ctx {
  domain: HwDomain;
  tag: number;
  s1: WalkTable | null;
  s2: WalkTable | null;
}

interface GlobalEntry {
  va: number;
  size: number;
  pa: number;
  perm: number;
}

/** The TLB's capacity for global entries (oldest evicted first). */
const GLOBAL_ENTRIES = 4096;

function permString(perm: number): string {
  return `${perm & ACC_READ ? 'r' : '-'}${perm & ACC_WRITE ? 'w' : '-'}`;
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('arm-s1-leaf-without-ng', profile, {
    // arm_lpae_prot_to_pte: the stage-1 leaves of the SMMUv3 domains lose nG.
    domain: (d) => {
      const pt = d.hw?.pt as (IoPageTable & { setProt(prot: number): number; attrs: Int32Array }) | null | undefined;
      if (!pt || pt.g.kind !== K_ARM_S1) return;
      patchOwn(pt, 'setProt', (setProt) => (prot: number) => {
        const rc = setProt(prot);
        pt.attrs[0] = ((pt.attrs[0] as number) & ~ARM_NG) | 0; // THE FAULT
        return rc;
      });
    },
    // The SMMU honours nG: global TLB entries match every ASID.
    machine: (m: Machine) => {
      const hw = hwUnits(m).find((h) => h.vendor === 'smmuv3');
      if (!hw) return;
      const devices = (hw as unknown as { devices: Map<number, Ctx> }).devices;
      const globals = new Map<number, GlobalEntry>();
      const stage1 = (ctx: Ctx | undefined): ctx is Ctx => ctx !== undefined && ctx.s2 === null && ctx.domain.pt !== null && ctx.domain.pt.g.kind === K_ARM_S1;

      patchOwn(hw, 'translate', (translate: HwIommu['translate']) => (sid: number, iova: number, access: number, pasid = 0) => {
        const ctx = devices.get(sid * 1048576 + pasid);
        if (!stage1(ctx)) return translate(sid, iova, access, pasid);
        const page = Math.floor(iova / 4096);
        const g = globals.get(page);
        if (g && iova >= g.va && iova < g.va + g.size && (g.perm & access) === access) return g.pa + (iova - g.va);
        const pa = translate(sid, iova, access, pasid);
        if (pa < 0) return pa;
        // The walk (or a hit on this ASID's own entry) came from a leaf: global if it lacks nG.
        const pt = ctx.domain.pt as IoPageTable;
        const w = pt.findLeaf(iova);
        if (w < 0) return pa;
        const lo = pt.mem.u32[w] as number;
        const hi = pt.mem.u32[w + 1] as number;
        if (lo & ARM_NG) return pa;
        const leaf = pt.lookupLeaf(iova);
        if (leaf === null) return pa;
        const perm = pt.fmt.hwPerm(lo, hi, true, (ctx.s1 as WalkTable).hd);
        if (globals.size >= GLOBAL_ENTRIES && !globals.has(page)) {
          const oldest = globals.keys().next().value;
          if (oldest !== undefined) globals.delete(oldest);
        }
        globals.set(page, { va: leaf.iova, size: leaf.size, pa: leaf.pa, perm });
        // Cached as a global entry, not under this context's ASID.
        hw.iotlb?.invalidateRange(ctx.tag, iova, iova);
        return pa;
      });

      const dropRange = (start: number, last: number): void => {
        for (const [k, g] of globals) if (g.va <= last && g.va + g.size - 1 >= start) globals.delete(k);
      };
      // CMD_TLBI_NH_VA / S2_IPA: global entries of the range go whatever their ASID.
      patchOwn(hw, 'smmuTlbiVa', (tlbiVa: HwIommu['smmuTlbiVa']) => (stage, tag, addr, leaf, num, scale, tg, ttl) => {
        tlbiVa(stage, tag, addr, leaf, num, scale, tg, ttl);
        const last = num >= 0 ? addr + (num + 1) * 2 ** scale * 2 ** (10 + 2 * tg) - 1 : addr;
        dropRange(addr, last);
      });
      // CMD_TLBI_NH_ASID keeps global entries; CMD_TLBI_S12_VMALL drops everything of the VMID.
      patchOwn(hw, 'smmuTlbiTag', (tlbiTag: HwIommu['smmuTlbiTag']) => (stage, tag) => {
        tlbiTag(stage, tag);
        if (stage === 2) globals.clear();
      });

      // The unit's IOTLB observation shows the global entries too.
      const smmuNames = [...m.instances.values()].filter((i) => i.hw === hw).map((i) => i.name);
      patchOwn(m, 'iotlb', (iotlb: Machine['iotlb']) => (name: string) => {
        const r = iotlb(name);
        if (r === undefined || !smmuNames.includes(name)) return r;
        const seen = new Set<number>();
        const extra: { tag: string; iova: bigint; pa: bigint; size: number; perm: string }[] = [];
        for (const g of globals.values()) {
          if (seen.has(g.va)) continue;
          seen.add(g.va);
          extra.push({ tag: 'global', iova: BigInt(g.va), pa: BigInt(g.pa), size: g.size, perm: permString(g.perm) });
        }
        extra.sort((a, b) => (a.iova < b.iova ? -1 : a.iova > b.iova ? 1 : 0));
        return [...r, ...extra];
      });
    },
  });
}
