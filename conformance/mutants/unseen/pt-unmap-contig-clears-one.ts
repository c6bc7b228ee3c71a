/**
 * Round 5b fault (drivers/iommu/generic_pt/iommu_pt.h
 * __unmap_range, the PT_ENTRY_OA branch).
 *
 * A large leaf made of a contiguous run of entries (AMD v1 NextLevel=7: an
 * 8 KiB .. 1 MiB page is the same PTE replicated in 2^n slots of the level-0
 * table, likewise 4 MiB .. 256 MiB at level 1) must be removed whole:
 * pt_clear_entries(&pts, pt_entry_num_contig_lg2(&pts)). The fault clears it
 * as the table branch above clears a table pointer, pt_clear_entries(&pts,
 * ilog2(1)): only the first slot of the run goes, while num_oas (and so the
 * size unmap reports, and the gather's range and flush) still counts the
 * whole run. The other slots keep the replicated PTE, which still decodes to
 * the whole large page: after IOMMU_IOAS_UNMAP the device reaches the
 * unmapped (and now unpinned) frames through every IOVA of the leaf but its
 * first 4 KiB, and a later map over that IOVA fails -EADDRINUSE in the
 * domain.
 *
 * Applied to the unmap of every generic_pt table (7.3 AMD v1 and the AMDv1
 * mock; VT-d has no contiguous entries): the run's other slots are put back
 * after the reference's own unmap cleared them.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import type { IotlbGather } from '../../../impl/pagetable/gather.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('pt-unmap-contig-clears-one', profile, {
    domain: (d) => {
      const pt = d.hw?.pt;
      if (!pt || pt.g.driver !== 'generic_pt') return;
      const u32 = pt.mem.u32;
      patchOwn(pt, 'unmapNoSync', (orig) => (iova: number, len: number, gather: IotlbGather) => {
        // The replicated slots past the first of every contiguous leaf in the range.
        const keep: [number, number, number][] = [];
        const last = iova + len - 1;
        for (let va = iova; len > 0 && va <= last; ) {
          const leaf = pt.lookupLeaf(va);
          if (leaf === null) {
            va += pt.minPageSize;
            continue;
          }
          const w0 = pt.findLeaf(leaf.iova);
          const level = pt.lastLevel;
          const item = 2 ** pt.g.itemLg2[level]!;
          const rep = leaf.size / item;
          for (let k = 1; k < rep; k++) keep.push([w0 + 2 * k, u32[w0 + 2 * k]!, u32[w0 + 2 * k + 1]!]);
          va = leaf.iova + leaf.size;
        }
        const n = orig(iova, len, gather);
        // THE FAULT: pt_clear_entries(&pts, ilog2(1)) on a leaf: only the run's first slot was cleared.
        // (A leaf table the range covered whole is freed with whatever it still holds.)
        const freed = new Set<number>();
        for (let i = 0; i < gather.freelist.length; i += 2) {
          for (let p = 0; p < 2 ** gather.freelist[i + 1]!; p++) freed.add(gather.freelist[i]! / 4096 + p);
        }
        for (const [w, lo, hi] of keep) {
          if (freed.has(Math.floor((w * 4) / 4096))) continue;
          u32[w] = lo;
          u32[w + 1] = hi;
        }
        return n;
      });
    },
  });
}
