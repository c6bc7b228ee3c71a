/**
 * vtdss-table-from-leaf-attrs — drivers/iommu/generic_pt/fmt/vtdss.h,
 * vtdss_pt_install_table() (7.3: VT-d second-stage domains are generic_pt
 * vtdss tables).
 *
 * A VT-d second-stage walk ANDs the R/W bits of every entry it passes (the
 * non-leaf SL-PML4E/PDPE/PDE included), so a table entry must allow both and
 * leave the permission to the leaf. The kernel installs every table entry with
 * R|W regardless of the map that made it:
 *
 *     static inline bool vtdss_pt_install_table(struct pt_state *pts,
 *                                               pt_oaddr_t table_pa,
 *                                               const struct pt_write_attrs *attrs)
 *     {
 *             u64 entry;
 *
 *             entry = VTDSS_FMT_R | VTDSS_FMT_W |
 *                     FIELD_PREP(VTDSS_FMT_OA, log2_div(table_pa, PT_GRANULE_LG2SZ));
 *             return pt_table_install64(pts, entry);
 *     }
 *
 * (amdv1pt_install_table says it outright: "IR and IW are ANDed from the table
 * levels along with the PTE. We always control permissions from the PTE, so
 * always set IR and IW for tables.")
 *
 * The fault builds the table entry the way vtdss_pt_install_leaf_entry, just
 * above it, builds a leaf — from the `attrs` argument both receive:
 * `entry = FIELD_PREP(VTDSS_FMT_OA, ...) | attrs->descriptor_bits;` —
 * so a table takes the R/W (and SNP) bits of the map that happened to allocate
 * it. Nothing goes wrong for that map. But the table outlives it: a table
 * created by a read-only map (IOMMU_IOAS_MAP without WRITEABLE) is read-only
 * for every later mapping under it, in any IOAS area, as long as the table
 * stays (tables are only freed when an unmap covers them whole). A later
 * read/write mapping in the same 2 MiB (or 1 GiB, 512 GiB) span is reported
 * writable by the page table's leaf (translate says rw), yet the device's
 * write faults with a permission error; a write-only first map makes later
 * reads fault the same way.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { VTDSS_R, VTDSS_SNP, VTDSS_W } from '../../../impl/pagetable/fmt/vtdss.ts';
import type { IoPageTable } from '../../../impl/pagetable/table.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';

/** What pt_install_table reads of an IoPageTable (protected members there, plain at run time). */
interface TableInternals {
  readonly u32: Uint32Array;
  /** The current map's leaf attributes (pt_iommu_set_prot's attrs->descriptor_bits, low word). */
  readonly attrs: Int32Array;
  writeTableEntry(w: number, level: number, childPa: number): void;
}

const DESCRIPTOR_BITS = VTDSS_R | VTDSS_W | VTDSS_SNP;

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('vtdss-table-from-leaf-attrs', profile, {
    domain: (d, env) => {
      if (env.profile !== '7.3' || d.config?.format !== 'vtd-ss') return;
      const pt = d.hw?.pt as IoPageTable | null | undefined;
      if (!pt) return;
      const t = pt as unknown as TableInternals;
      patchOwn(t, 'writeTableEntry', (orig) => (w: number, level: number, childPa: number) => {
        orig(w, level, childPa);
        // THE FAULT: the table entry carries the leaf's descriptor bits instead of R|W.
        const u = t.u32;
        u[w] = ((((u[w] as number) & ~DESCRIPTOR_BITS) | ((t.attrs[0] as number) & DESCRIPTOR_BITS)) >>> 0) as number;
      });
    },
  });
}
