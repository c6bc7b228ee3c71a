/**
 * Round 7b fault (drivers/iommu/generic_pt/fmt/amdv1.h amdv1pt_install_table;
 * 6.12 amd/io_pgtable.c alloc_pte with PM_LEVEL_PDE).
 *
 * The AMD v1 IOMMU ANDs IR/IW down the walk: a table entry's IR/IW gate every
 * leaf below it. generic_pt keeps all permission in the leaf:
 *     entry = AMDV1PT_FMT_PR | FIELD_PREP(AMDV1PT_FMT_NEXT_LEVEL, pts->level) |
 *             FIELD_PREP(AMDV1PT_FMT_OA, log2_div(table_pa, PT_GRANULE_LG2SZ)) |
 *             AMDV1PT_FMT_IR | AMDV1PT_FMT_IW;
 * ("We always control permissions from the PTE, so always set IR and IW for
 * tables", as 6.12's PM_LEVEL_PDE always ORs IOMMU_PTE_IR | IOMMU_PTE_IW).
 * The fault takes the table entry's IR/IW from the attrs install_table is
 * handed (attrs->descriptor_bits, the prot of the map that allocates the
 * table), as formats that carry attributes in table descriptors do.
 *
 * Consequence: the first map under a new table decides the permission of the
 * whole span the table covers (2 MiB, 1 GiB, 512 GiB, and the whole address
 * space when a read-only map grows the top): after a read-only IOAS_MAP
 * (IOMMU_IOAS_MAP without WRITEABLE, a read-only VFIO_IOMMU_MAP_DMA) every
 * later writable mapping in that span faults on device writes, and whether a
 * write works depends on map order. IOMMU_IOAS_MAP, translate and
 * iova_to_phys all say the mapping is writable.
 *
 * Applied as: on AMD v1 domains each table entry written gets the current
 * map's IR/IW instead of both.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { AMD_IR_HI, AMD_IW_HI } from '../../../impl/pagetable/fmt/amdv1.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';

interface TableInternals {
  readonly u32: Uint32Array;
  readonly attrs: Int32Array;
  writeTableEntry(w: number, level: number, childPa: number): void;
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('amdv1-table-inherits-leaf-prot', profile, {
    domain: (d) => {
      const pt = d.hw?.pt;
      if (!pt || pt.fmt.name !== 'amd-v1') return;
      const t = pt as unknown as TableInternals;
      patchOwn(t, 'writeTableEntry', (write) => (w: number, level: number, childPa: number) => {
        write(w, level, childPa);
        // THE FAULT: entry |= attrs->descriptor_bits & (IR | IW) instead of IR | IW.
        const perm = AMD_IR_HI | AMD_IW_HI;
        t.u32[w + 1] = (((t.u32[w + 1] as number) & ~perm) | ((t.attrs[1] as number) & perm)) >>> 0;
      });
    },
  });
}
