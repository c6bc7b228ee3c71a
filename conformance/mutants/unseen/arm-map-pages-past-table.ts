/**
 * Round 7b fault (drivers/iommu/io-pgtable-arm.c __arm_lpae_map, the
 * map_pages conversion).
 *
 * map_pages hands the driver pgcount pages of one size; at the level of that
 * size __arm_lpae_map may only write up to the end of the current table page:
 *     max_entries = arm_lpae_max_entries(map_idx_start, data);
 *     num_entries = min_t(int, pgcount, max_entries);
 *     ret = arm_lpae_init_pte(data, iova, paddr, prot, lvl, num_entries, ptep);
 *     if (!ret) *mapped += num_entries * size;
 * and the iommu core calls again for the rest, which walks (and allocates)
 * the next table. The fault drops the clamp (num_entries = pgcount): a run of
 * pages crossing a table boundary is written past the end of the table page,
 * into whatever page follows it in physical memory, and reported mapped.
 *
 * Consequence: an IOAS_MAP of physically contiguous pages whose IOVA run
 * crosses a 2 MiB boundary with a PA offset that rules out a block (the iommu
 * core then asks for all of them as 4 KiB pages at once) makes
 * arm_lpae_init_pte look at the words after the table page: when the page
 * that follows is in use (the usual case: the next table page, user memory)
 * a valid map fails -EEXIST and the IOVAs stay unmapped; when it reads zero,
 * PTEs are written into a page the table does not own and the map reports
 * success while the IOVAs after the boundary have no table (the device
 * faults there, and the foreign page is corrupted).
 *
 * Applied as: each Arm LPAE table's __arm_lpae_map (lpaeMap) is an own-property
 * copy with the min_t() removed.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { PT_ENTRY_TABLE } from '../../../impl/pagetable/fmt/types.ts';
import { EEXIST, EINVAL, ENOMEM } from '../../../impl/lib/errno.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';

/** The ArmLpaeTable internals __arm_lpae_map reads (protected/private in the reference). */
interface LpaeInternals {
  u32: Uint32Array;
  fmt: { entryType(lo: number, hi: number, level: number): number };
  root: number;
  topLevel: number;
  itemLg2: Int32Array;
  itemSize: Float64Array;
  pagesMapped: number;
  mappedBytes: number;
  index(va: number, level: number): number;
  allocTable(level: number): number;
  writeTableEntry(w: number, level: number, childPa: number): void;
  flush(pa: number, bytes: number): void;
  tablePa(lo: number, hi: number): number;
  initPte(iova: number, paddr: number, level: number, num: number, w: number): number;
  lpaeMap(iova: number, paddr: number, lg2: number, pgcount: number): number;
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('arm-map-pages-past-table', profile, {
    domain: (d) => {
      const pt = d.hw?.pt as unknown as LpaeInternals | null | undefined;
      if (!pt || typeof pt.lpaeMap !== 'function') return;
      patchOwn(pt, 'lpaeMap', () => (iova: number, paddr: number, lg2: number, pgcount: number): number => {
        const u = pt.u32;
        let table = pt.root;
        for (let level = pt.topLevel; ; level--) {
          const idx = pt.index(iova, level);
          const w = (table >>> 2) + 2 * idx;
          if (lg2 === (pt.itemLg2[level] as number)) {
            const num = pgcount; // THE FAULT: min_t(int, pgcount, arm_lpae_max_entries(idx, data)) dropped
            const rc = pt.initPte(iova, paddr, level, num, w);
            if (rc === 0) {
              const bytes = num * (pt.itemSize[level] as number);
              pt.pagesMapped += bytes;
              pt.mappedBytes += bytes;
            }
            return rc;
          }
          if (level === 0) return -EINVAL;
          const lo = u[w] as number;
          const hi = u[w + 1] as number;
          if (lo === 0 && hi === 0) {
            const child = pt.allocTable(level - 1);
            if (child === 0) return -ENOMEM;
            pt.writeTableEntry(w, level, child);
            pt.flush(w * 4, 8);
            table = child;
            continue;
          }
          if (pt.fmt.entryType(lo, hi, level) !== PT_ENTRY_TABLE) return -EEXIST;
          table = pt.tablePa(lo, hi);
        }
      });
    },
  });
}
