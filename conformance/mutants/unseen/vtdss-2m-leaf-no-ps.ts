/**
 * H8.5 — vtdss-2m-leaf-no-ps (drivers/iommu/generic_pt/fmt/vtdss.h
 * vtdss_pt_install_leaf_entry).
 *
 * A VT-d second-stage leaf above the last level (a 2 MiB or 1 GiB page) is
 * told apart from a table pointer by PS (bit 7):
 *     entry = FIELD_PREP(VTDSS_FMT_OA, log2_div(oa, PT_GRANULE_LG2SZ)) |
 *             attrs->descriptor_bits;
 *     if (pts->level != 0)
 *             entry |= VTDSS_FMT_PS;
 * The fault carries VT-d's own 1-based level numbering (a superpage is
 * "level > 1", 1 being the 4 KiB level) into generic_pt's 0-based one:
 *     if (pts->level > 1)
 * so 1 GiB leaves keep PS but 2 MiB leaves are written without it.
 *
 * Consequence: every 2 MiB leaf — what a huge-page-backed IOMMU_IOAS_MAP of
 * a 2 MiB-aligned IOVA gets — reads as a table pointer, to the user's own
 * data page. The IOMMU walks the process's memory as its last-level page
 * table: each 8-byte word the user writes there is a PTE, so the device
 * reaches whatever physical address the user chooses (other processes,
 * the kernel, page tables), and the mapped range itself translates to
 * whatever the data says (nothing, for zeroed memory). iova_to_phys and
 * unmap walk the same way (the unmap stops at the first empty "PTE" and
 * returns short, leaving the entry to a page iommufd then unpins; freeing
 * the domain frees the user page as a page-table page).
 *
 * Applied as: on 7.3 VT-d second-stage tables, leaves written at level 1
 * have PS cleared.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { VTDSS_PS } from '../../../impl/pagetable/fmt/vtdss.ts';
import type { PtFormat } from '../../../impl/pagetable/fmt/types.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('vtdss-2m-leaf-no-ps', profile, {
    domain: (d) => {
      const pt = d.hw?.pt;
      if (!pt || pt.fmt.name !== 'vtd-ss' || pt.g.driver !== 'generic_pt') return;
      patchOwn(pt, 'fmt', (fmt) => {
        // This table's own view of the format (the format object itself is shared with other tables).
        const own = Object.create(fmt) as PtFormat;
        Object.defineProperty(own, 'writeLeaves', {
          value: (u32: Uint32Array, w: number, n: number, oa: number, oaszLg2: number, itemLg2: number, level: number, aLo: number, aHi: number): void => {
            fmt.writeLeaves(u32, w, n, oa, oaszLg2, itemLg2, level, aLo, aHi);
            // THE FAULT: PS only for "level > 1" in VT-d numbering, i.e. not for generic_pt's level 1.
            if (level === 1) for (let k = 0; k < n; k++) u32[w + 2 * k] = ((u32[w + 2 * k] as number) & ~VTDSS_PS) >>> 0;
          },
        });
        return own;
      });
    },
  });
}
