/**
 * amdv1-install-contig-memset-lg2 (drivers/iommu/generic_pt/fmt/amdv1.h
 * amdv1pt_install_leaf_entry).
 *
 * AMD v1 has no contiguous hint: a leaf larger than the level's item (any
 * power of two, NextLevel = 7 with the size encoded in the low OA bits) is
 * written into every entry it covers. The store is a loop for short runs and
 * memset64 for long ones (the same split as amdv1pt_clear_entries, chosen
 * for rep-stos performance):
 *
 *     unsigned int num_contig_lg2 = oasz_lg2 - isz_lg2;
 *     u64 *end = tablep + log2_to_int(num_contig_lg2);
 *     ...
 *     if (num_contig_lg2 <= ilog2(32)) {
 *             for (; tablep != end; tablep++)
 *                     WRITE_ONCE(*tablep, entry);
 *     } else {
 *             memset64(tablep, entry, log2_to_int(num_contig_lg2));
 *     }
 *
 * The fault passes the exponent where memset64 wants a count:
 *
 *             memset64(tablep, entry, num_contig_lg2);
 *
 * Runs of up to 32 entries (the loop) are unaffected; a leaf of 64 entries
 * or more — 256 KiB, 512 KiB, 1 MiB on AMD v1's 4 KiB level, 128..512 KiB on
 * the selftest mock's 2 KiB level, 128 MiB+ one level up — gets its first
 * 6, 7 or 8 entries written and the rest left empty. Every entry written
 * still describes the whole leaf (same OA, same size code), and unmap
 * decodes the size from the first entry and clears the whole run, so
 * nothing stays behind; but the IOVAs of the missing entries are simply not
 * mapped.
 *
 * Consequence: after IOMMU_IOAS_MAP succeeds (or a domain is attached to an
 * IOAS holding such an area), a device's DMA to most of a large, physically
 * contiguous mapping (a huge-page backed buffer mapped at a 256 KiB..1 MiB
 * aligned IOVA, or with such a length) faults as unmapped although the IOAS
 * maps it read/write: a VMM's guest sees IO page faults and lost DMA on
 * memory it mapped, and IOMMU_TEST_OP_MD_CHECK_MAP / a page-table walk
 * disagree with the IOAS. Which IOVAs work depends on the physical layout
 * (whether THP backed the buffer), so the failure looks random.
 *
 * Applied as: the page tables of AMD v1 and AMDv1-mock generic_pt domains
 * install replicated leaves through the faulty store (each domain's table
 * gets its own entry-writer; the hardware walker reads entries as before).
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';
import type { PtFormat } from '../../../impl/pagetable/fmt/types.ts';
import type { IoPageTable } from '../../../impl/pagetable/table.ts';

/** ilog2(32): above it amdv1pt_install_leaf_entry stores with memset64. */
const LOOP_MAX_LG2 = 5;

function faultyWriter(orig: PtFormat): PtFormat {
  const f = Object.create(orig) as PtFormat;
  const writeLeaves: PtFormat['writeLeaves'] = (u32, w, n, oa, oaszLg2, itemLg2, level, aLo, aHi) => {
    orig.writeLeaves(u32, w, n, oa, oaszLg2, itemLg2, level, aLo, aHi);
    const runLg2 = oaszLg2 - itemLg2;
    if (runLg2 <= LOOP_MAX_LG2) return;
    // THE FAULT: memset64(tablep, entry, num_contig_lg2) — only num_contig_lg2 entries of each leaf.
    const rep = 2 ** runLg2;
    for (let k = 0; k < n; k++) {
      const base = w + 2 * k * rep;
      u32.fill(0, base + 2 * runLg2, base + 2 * rep);
    }
  };
  Object.defineProperty(f, 'writeLeaves', { value: writeLeaves, writable: true, configurable: true, enumerable: false });
  return f;
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('amdv1-install-contig-memset-lg2', profile, {
    domain: (d) => {
      const pt = d.hw?.pt as IoPageTable | null | undefined;
      if (!pt || pt.g.driver !== 'generic_pt') return;
      if (pt.fmt.name !== 'amd-v1' && pt.fmt.name !== 'mock-amdv1') return;
      patchOwn(pt, 'fmt', (fmt) => faultyWriter(fmt));
    },
  });
}
