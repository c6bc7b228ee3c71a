/**
 * amd-iotlb-sync-pde-from-detailed-gather — drivers/iommu/amd/iommu.c
 * amd_iommu_iotlb_sync() (7.3: the iotlb_sync of the generic_pt AMD v1
 * domains; it ends every iommu_unmap of an amd0 domain, and every map that
 * replaced an empty table by a large leaf).
 *
 * INVALIDATE_IOMMU_PAGES drops IOTLB entries; with PDE=1 it also drops the
 * cached page-directory entries (the IOMMU's paging-structure cache) of the
 * range. The AMD driver asks for PDE only when the sync frees page-table
 * pages, i.e. when the gather's free list is not empty:
 *
 *     spin_lock_irqsave(&dom->lock, flags);
 *     amd_iommu_domain_flush_pages(dom, gather->start, gather->end,
 *                                  iommu_pages_list_empty(&gather->freelist) ?
 *                                  0 : CMD_INV_IOMMU_PAGES_PDE_MASK);
 *     spin_unlock_irqrestore(&dom->lock, flags);
 *     iommu_put_pages_list(&gather->freelist);
 *
 * THE FAULT: the test is rewritten after the RISC-V driver's
 * (riscv_iommu_iotlb_sync: `tlbi->non_leaf = gather->pt.table_levels_bitmap
 * != 0`), "flush the directory cache only when table levels were removed":
 *
 *     amd_iommu_domain_flush_pages(dom, gather->start, gather->end,
 *                                  gather->pt.table_levels_bitmap ?
 *                                  CMD_INV_IOMMU_PAGES_PDE_MASK : 0);
 *
 * but generic_pt fills the level bitmaps only for formats with
 * PT_FEAT_DETAILED_GATHER (gather_add_table / gather_range_pending), which
 * AMD v1 does not enable (only riscv64 does). The bitmap is always 0: no
 * AMD flush carries PDE any more, and the freed tables go back to the page
 * allocator right after.
 *
 * Consequence, over several commands and two areas: an IOMMU_IOAS_UNMAP
 * (or VFIO_IOMMU_UNMAP_DMA, or the teardown of an IOAS) of an area that
 * covers a whole 2 MiB span mapped with smaller pages frees that span's
 * leaf table, while the IOMMU's directory cache keeps pointing the span at
 * it. Right after the unmap the freed page is zero and the device faults as
 * it should; once the page is reused — the next page-table allocation, for
 * another area of this domain or for another domain (another IOAS, another
 * iommufd context) — a device DMA to the unmapped IOVA walks that new table
 * and reaches whatever it maps there: another area's memory, possibly
 * another process's. Large maps that clear an empty leaf table (the map
 * path's sync) leave the same stale pointer behind.
 *
 * Applied as: on the AMD unit, under 7.3, the iotlb_sync of a generic_pt
 * AMD v1 domain sends INVALIDATE_IOMMU_PAGES without PDE; the table pages
 * are freed after it as before.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import type { HwDomain, HwIommu } from '../../../impl/platform/hw.ts';
import type { IotlbGather } from '../../../impl/pagetable/gather.ts';
import { hwUnits, mutantImplementation, patchOwn } from '../harness.ts';

/** The unit's nested-context flush (private in the reference; unused without nested HWPTs). */
type Nested = { readonly nested: Map<number, unknown>; flushNestedOf(d: HwDomain): void };

/** build_inv_address + INVALIDATE_IOMMU_PAGES, as the unit's amdFlushRange sends it, with the PDE bit given. */
function amdFlushPages(hw: HwIommu, domid: number, address: number, size: number, pde: number): void {
  const end = address + size - 1;
  if (Math.floor(address / 4096) === Math.floor(end / 4096)) {
    hw.amdInvalidatePages(domid, Math.floor(address / 4096) * 4096, 0, pde, false);
    return;
  }
  let d = 63;
  while (d > 0 && Math.floor(address / 2 ** d) === Math.floor(end / 2 ** d)) d--;
  if (d > 51) {
    hw.amdInvalidatePages(domid, 0, 1, pde, true);
    return;
  }
  const blk = 2 ** (d + 1);
  const base = Math.floor(address / blk) * blk;
  hw.amdInvalidatePages(domid, base + (2 ** d - 4096), 1, pde, false);
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('amd-iotlb-sync-pde-from-detailed-gather', profile, {
    machine: (m) => {
      if (profile !== '7.3') return;
      for (const hw of hwUnits(m)) {
        if (hw.vendor !== 'amd') continue;
        patchOwn(hw, 'flushGather', (flushGather) => (d: HwDomain, g: IotlbGather) => {
          if (d.pt === null || d.pt.g.driver !== 'generic_pt') return flushGather(d, g);
          if (hw.iotlb === null || !d.everAttached) return;
          const n = hw as unknown as Nested;
          if (n.nested.size > 0) n.flushNestedOf(d);
          // THE FAULT: PDE from gather->pt.table_levels_bitmap, which AMD v1 never fills.
          const pde = 0;
          const tables = g.freelist.length > 0 || g.tableLevels !== 0;
          if (g.wide || (g.empty && tables)) {
            hw.amdInvalidatePages(d.tag, 0, 1, pde, true);
            return;
          }
          if (g.empty) return;
          amdFlushPages(hw, d.tag, g.start, g.end - g.start + 1, pde);
        });
      }
    },
  });
}
