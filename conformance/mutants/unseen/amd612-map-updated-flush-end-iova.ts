/**
 * amd612-map-updated-flush-end-iova — drivers/iommu/amd/io_pgtable.c
 * iommu_v1_map_pages() (6.12 only: 7.3's AMD v1 is generic_pt).
 *
 * When the map replaced something (free_clear_pte freed a table that was in
 * the way, or alloc_pte cleared a larger replicated leaf), the kernel flushes
 * the range it was asked to map, from the IOVA it was called with:
 *
 *     out:
 *             if (updated) {
 *                     ...
 *                     amd_iommu_domain_flush_pages(dom, o_iova, size);
 *                     ...
 *             }
 *             iommu_put_pages_list(&freelist);
 *
 * THE FAULT: the flush uses the loop variable, which by then has been
 * advanced past the last page mapped:
 *
 *             amd_iommu_domain_flush_pages(dom, iova, size);
 *
 * so INVALIDATE_IOMMU_PAGES (PDE=1) covers [o_iova + size, o_iova + 2*size)
 * instead of the range whose page-directory entries changed. The freed
 * lower-level table is still named by the IOMMU's page-directory cache and
 * goes back to the allocator.
 *
 * What a user sees: on 6.12 AMD, unmap never frees tables, so mapping a
 * 2 MiB (huge-page backed) range where 4 KiB pages were mapped and unmapped
 * replaces the empty leaf table. A device whose earlier access cached the
 * PDE to that table keeps walking the freed table: its DMA to the new
 * 2 MiB mapping faults (or lands wherever the recycled page now points),
 * while the kernel's reaches the user's pages.
 *
 * Applied as: on 6.12 AMD v1 tables, the gather mapPages flushes after
 * replacing entries is given the range starting at the end of the map.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import type { IotlbGather } from '../../../impl/pagetable/gather.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('amd612-map-updated-flush-end-iova', profile, {
    domain: (d) => {
      if (profile !== '6.12') return;
      const pt = d.hw?.pt as unknown as { freeGather?: IotlbGather; fmt: { name: string } } | undefined;
      if (!pt || pt.fmt.name !== 'amd-v1' || !pt.freeGather) return;
      // THE FAULT: amd_iommu_domain_flush_pages(dom, iova, size) with the advanced iova.
      patchOwn(pt.freeGather, 'addRange', (addRange) => (iova: number, len: number) => addRange(iova + len, len));
    },
  });
}
