/**
 * split-at-area-start-not-skipped (drivers/iommu/iommufd/io_pagetable.c
 * iopt_area_split, reached through iopt_cut_iova from
 * iommufd_vfio_unmap_dma for a VFIO_TYPE1_IOMMU (v1) container; 6.12 and
 * 7.3 alike).
 *
 * A cut point that already is an area boundary needs no split, on either
 * side of the area:
 *
 *     if (iova == start_iova || iova == last_iova)
 *             return 0;
 *
 *     if (!pages || area->prevent_access)
 *             return -EBUSY;
 *     ...
 *     if (new_start & (alignment - 1) ||
 *         iopt_area_start_byte(area, new_start) & (alignment - 1))
 *             return -EINVAL;
 *
 * THE FAULT: only `iova == last_iova` is kept (the author reasons that the
 * cut is "after iova", so only the last byte can be a no-op). A cut point
 * equal to an area's first byte (area longer than one byte) goes on to the
 * alignment test with new_start = start_iova + 1, which a v1 IOAS (large
 * pages disabled, iova_alignment >= PAGE_SIZE) always fails: -EINVAL.
 * VFIO_IOMMU_UNMAP_DMA cuts at iova + size - 1 and iova - 1, so an unmap
 * whose last byte is the first byte of the next mapping (size one byte
 * more than a page multiple, e.g. iova 0x100000 size 0x1001 with areas at
 * 0x100000 and 0x101000), or whose iova is one past an area start, fails
 * with -EINVAL and unmaps nothing (size not written back) where the kernel
 * goes on to the unmap (ENOENT for the crossing area after the areas
 * before it are gone, with size reporting them).
 *
 * Applied as: VFIO_IOMMU_UNMAP_DMA on a container whose compat IOAS has
 * large pages disabled walks the reference's cut points in its order; the
 * points before a faulty one are cut by the reference's iopt_cut_iova, and
 * a point at an area's first byte takes the faulty path (EBUSY/EINVAL as
 * the kernel's next tests answer). Otherwise the reference's command runs.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation, type CompatDecode } from '../harness.ts';
import { EBUSY, EINVAL } from '../../../impl/lib/errno.ts';
import { VFIO_DMA_UNMAP_FLAG_ALL } from '../../../spec/uapi/constants.ts';
import { iommufdGetIoas, type IommufdCtx } from '../../../impl/iommufd/iommufd_private.ts';
import { ioptAreaIterFirst, ioptAreaStartByte, ioptCutIova } from '../../../impl/iommufd/io_pagetable.ts';
import { iommufdVfioCompatIoasGetId } from '../../../impl/iommufd/vfio_compat.ts';

function unmapDma(ctx: IommufdCtx, d: CompatDecode, _arg: bigint, original: () => number): number {
  const v = d.value as { flags: number | bigint; iova: bigint; size: bigint };
  const flags = Number(v.flags);
  if (flags & ~VFIO_DMA_UNMAP_FLAG_ALL || flags & VFIO_DMA_UNMAP_FLAG_ALL) return original();
  const id = iommufdVfioCompatIoasGetId(ctx);
  if (id.errno) return original();
  const r = iommufdGetIoas(ctx, id.value!);
  if (r.errno) return original();
  const iopt = r.value!.iopt;
  if (!iopt.disableLargePages) return original();
  const iova = BigInt(v.iova);
  const size = BigInt(v.size);
  const iovas = [BigInt.asUintN(64, iova + size - 1n), BigInt.asUintN(64, iova - 1n)];
  const points = iova ? iovas : iovas.slice(0, 1);
  for (let k = 0; k < points.length; k++) {
    const p = points[k]!;
    const area = ioptAreaIterFirst(iopt, p, p);
    // THE FAULT: `iova == start_iova ||` is gone from the no-op test.
    if (!area || p !== area.start || p === area.last) continue;
    const rc = ioptCutIova(iopt, points.slice(0, k));
    if (rc) return rc;
    if (!area.pages || area.preventAccess) return -EBUSY;
    const alignment = BigInt(iopt.iovaAlignment);
    const newStart = p + 1n;
    if (newStart & (alignment - 1n) || ioptAreaStartByte(area, newStart) & (alignment - 1n)) return -EINVAL;
    break; // alignment 1 cannot happen with large pages disabled
  }
  return original();
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('split-at-area-start-not-skipped', profile, { compat: { VFIO_IOMMU_UNMAP_DMA: unmapDma } });
}
