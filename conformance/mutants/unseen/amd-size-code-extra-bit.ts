/**
 * Round 7b fault (drivers/iommu/generic_pt/fmt/amdv1.h
 * amdv1pt_install_leaf_entry, the NextLevel=7 branch; 6.12
 * amd/amd_iommu_types.h PAGE_SIZE_PTE used by iommu_v1_map_pages).
 *
 * An AMD v1 leaf larger than its level's item (8 KiB .. 1 MiB at level 0,
 * 4 MiB .. 256 MiB at level 1, ...) is NextLevel=7 with the size encoded in
 * the OA field as a run of ones below the size's top bit, the bit itself
 * clear:
 *     FIELD_PREP(AMDV1PT_FMT_OA, oalog2_to_int(oasz_lg2 - PT_GRANULE_LG2SZ - 1) - 1)
 * (6.12: (address | (pagesize - 1)) & ~(pagesize >> 1)). The fault drops the
 * "- 1" on the exponent (6.12: the & ~(pagesize >> 1)): one more one, so the
 * IOMMU decodes every such leaf as (at least) twice its size, with its OA
 * rounded down to that size.
 *
 * Consequence: where the IOVA and the PA of a replicated leaf are aligned
 * differently at the doubled size (an 8 KiB physically contiguous run mapped
 * at an IOVA that is 8 KiB but not 16 KiB aligned, from a 16 KiB aligned
 * PA), the device's accesses land 8 KiB (the leaf size) away from the
 * mapping: it reads and writes pages the user never mapped (and iommufd never
 * pinned), and misses the ones it did. The table walk of the kernel side
 * (iova_to_phys, unmap, the translate observation) decodes the same bits
 * with the same helper, but the hardware walk is what DMA uses.
 *
 * Applied as: after each map on an AMD v1 table, every NextLevel=7 leaf the
 * map wrote gets the extra one bit in each of its replicas.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { AMD_NL_SHIFT } from '../../../impl/pagetable/fmt/amdv1.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('amd-size-code-extra-bit', profile, {
    domain: (d) => {
      const pt = d.hw?.pt;
      if (!pt || pt.fmt.name !== 'amd-v1') return;
      const u = (pt as unknown as { u32: Uint32Array }).u32;
      const granLg2 = pt.g.granLg2;
      /** Rewrite the size code of every replicated leaf in [iova, iova + len). */
      const corrupt = (iova: number, len: number): void => {
        let va = iova;
        while (va < iova + len) {
          const w = pt.findLeaf(va);
          if (w < 0) return;
          const level = pt.lastLevel;
          const lo = u[w] as number;
          const hi = u[w + 1] as number;
          const runLg2 = pt.fmt.contigLg2(lo, hi, level);
          const leafLg2 = (pt.g.itemLg2[level] as number) + runLg2;
          const size = 2 ** leafLg2;
          if (((lo >>> AMD_NL_SHIFT) & 7) === 7) {
            const rep = 2 ** runLg2;
            const w0 = w - 2 * ((w / 2) % rep);
            // THE FAULT: the OA field gets 2^(oasz - granule) - 1 ones, not 2^(oasz - granule - 1) - 1.
            const bit = leafLg2 - granLg2 - 1 + 12;
            for (let r = 0; r < rep; r++) {
              if (bit < 32) u[w0 + 2 * r] = ((u[w0 + 2 * r] as number) | (2 ** bit)) >>> 0;
              else u[w0 + 2 * r + 1] = ((u[w0 + 2 * r + 1] as number) | (2 ** (bit - 32))) >>> 0;
            }
          }
          va = va - (va % size) + size;
        }
      };
      patchOwn(pt, 'map', (map) => (iova: number, pa: number, len: number, prot: number) => {
        const rc = map(iova, pa, len, prot);
        if (pt.mapped > 0) corrupt(iova, pt.mapped);
        return rc;
      });
    },
  });
}
