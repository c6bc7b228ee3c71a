/**
 * unmap-bytes-last-area-only (drivers/iommu/iommufd/io_pagetable.c
 * iopt_unmap_iova_range).
 *
 * The walk removes every area inside [start, last] one by one and sums what
 * it removed into the byte count IOMMU_IOAS_UNMAP returns in `length` (and
 * VFIO_IOMMU_UNMAP_DMA in `size`):
 *
 *             iopt_area_unfill_domains(area, pages);
 *             iopt_abort_area(area);
 *             iopt_put_pages(pages);
 *
 *             unmapped_bytes += area_last - area_first + 1;
 *
 *             down_write(&iopt->iova_rwsem);
 *     ...
 *     if (unmapped)
 *             *unmapped = unmapped_bytes;
 *
 * THE FAULT: `unmapped_bytes = area_last - area_first + 1;` — the count is
 * overwritten per area instead of summed. The unmap itself is right (every
 * area goes, unpinned and uncharged); only the reported size is wrong.
 *
 * What a user sees: an IOMMU_IOAS_UNMAP (or the unmap-all form iova 0,
 * length U64_MAX, or VFIO_IOMMU_UNMAP_DMA, also when it fails part-way)
 * that removes several areas reports the size of the last (highest) one
 * only: two 4 KiB maps at 16 MiB and 16 MiB + 4 KiB unmapped by one
 * [16 MiB, 16 MiB + 8 KiB) request answer length 4096, not 8192. VFIO
 * users (QEMU's vfio_dma_unmap, DPDK) compare the returned size against the
 * request and treat a short answer as an error / retry.
 *
 * Applied as: the reference's own walk, with each IOAS's area list
 * recording what iopt_abort_area removes (a splice removing one area and
 * inserting none); IOMMU_IOAS_UNMAP and VFIO_IOMMU_UNMAP_DMA then write back
 * the size of the last area removed in place of the sum.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';
import { EFAULT } from '../../../impl/lib/errno.ts';
import { iommufdUcmdRespond, type IommufdIoas, type IoptArea } from '../../../impl/iommufd/iommufd_private.ts';

export function createAdapter(profile: Profile): Implementation {
  /** The area iopt_abort_area removed last during the current unmap. */
  const rec: { last?: IoptArea } = {};
  return mutantImplementation('unmap-bytes-last-area-only', profile, {
    object: (obj) => {
      if (obj.type !== 'IOAS') return;
      const areas = (obj as IommufdIoas).iopt.areas;
      patchOwn(areas, 'splice', (splice) => ((start: number, deleteCount?: number, ...items: IoptArea[]) => {
        const removed = deleteCount === undefined ? splice(start) : splice(start, deleteCount, ...items);
        if (deleteCount === 1 && items.length === 0 && removed.length === 1) rec.last = removed[0];
        return removed;
      }) as typeof areas.splice);
    },
    handlers: {
      IOMMU_IOAS_UNMAP: (ucmd, original) => {
        rec.last = undefined;
        const rc = original(ucmd);
        const area = rec.last as IoptArea | undefined;
        if (rc || !area) return rc;
        // THE FAULT: unmapped_bytes = area_last - area_first + 1 (the last area only).
        ucmd.cmd.set('length', area.length);
        return iommufdUcmdRespond(ucmd);
      },
    },
    compat: {
      VFIO_IOMMU_UNMAP_DMA: (ctx, _d, arg, original) => {
        rec.last = undefined;
        const rc = original();
        const area = rec.last as IoptArea | undefined;
        if (rc === -EFAULT || !area) return rc;
        // THE FAULT: `size` (u64 at offset 16 of vfio_iommu_type1_dma_unmap) is the last area's length.
        const b = new Uint8Array(8);
        new DataView(b.buffer).setBigUint64(0, area.length, true);
        return ctx.proc.copyToUser(arg + 16n, b) ? rc : -EFAULT;
      },
    },
  });
}
