/**
 * cut-iova-stops-at-gap (drivers/iommu/iommufd/io_pagetable.c iopt_cut_iova,
 * reached from iommufd_vfio_unmap_dma (vfio_compat.c) for VFIO_IOMMU_UNMAP_DMA
 * on a container set to VFIO_TYPE1_IOMMU, i.e. an IOAS with large pages
 * disabled).
 *
 * VFIO type1 (v1) lets userspace unmap any page-aligned part of what it
 * mapped. iommufd emulates it by cutting the areas at both ends of the range
 * first, then unmapping the whole areas inside:
 *
 *     unsigned long iovas[] = { unmap.iova + unmap.size - 1,
 *                               unmap.iova - 1 };
 *
 *     rc = iopt_cut_iova(&ioas->iopt, iovas, unmap.iova ? 2 : 1);
 *
 * and each cut point that falls inside an area splits it; a point in a hole
 * needs no cut and the loop goes on to the next one:
 *
 *     for (i = 0; i < num_iovas; i++) {
 *             struct iopt_area *area;
 *
 *             area = iopt_area_iter_first(iopt, iovas[i], iovas[i]);
 *             if (!area)
 *                     continue;
 *             rc = iopt_area_split(area, iovas[i]);
 *             if (rc)
 *                     break;
 *     }
 *
 * The fault ends the loop at the first point that lies in a hole, as if a
 * range that ends where nothing is mapped had nothing left to cut:
 *
 *             if (!area)
 *                     break;
 *
 * The end of the range is cut first, so whenever the range runs past the
 * last mapped byte (into a hole), the start is never cut.
 *
 * Why it takes several commands: the compat IOAS must be in type1 v1 mode
 * (VFIO_SET_IOMMU(VFIO_TYPE1_IOMMU), which disables large pages), hold a
 * mapping, and then be asked to unmap a range that starts inside that
 * mapping and ends beyond it (the tail of a mapping together with the hole
 * after it, or the tail of one mapping and the head of the IOVA space
 * after it — the usual "unmap this window" of a type1 user). A range whose
 * end falls inside a mapping, or that starts on an area boundary, is cut
 * correctly; IOMMU_IOAS_UNMAP and type1v2 never cut.
 *
 * Consequence for a user: VFIO_IOMMU_UNMAP_DMA fails with ENOENT and reports
 * size 0, the IOVAs it should have unmapped stay mapped for the devices (and
 * the pages pinned), and the IOVA range cannot be reused by a new
 * VFIO_IOMMU_MAP_DMA (EEXIST) — a v1 user (QEMU's type1 v1 backend) that
 * unmaps a window on a memory hot-unplug leaves the device with DMA access
 * to memory it has given back.
 *
 * Applied as: VFIO_IOMMU_UNMAP_DMA on the iommufd served by a copy of the
 * reference's iommufd_vfio_unmap_dma whose cut loop stops at the first cut
 * point no area covers; each cut is the reference's iopt_cut_iova.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation, type CompatDecode } from '../harness.ts';
import { EFAULT, EINVAL, ENODEV } from '../../../impl/lib/errno.ts';
import { VFIO_DMA_UNMAP_FLAG_ALL } from '../../../spec/uapi/constants.ts';
import { commandMinSize } from '../../../spec/uapi/lookup.ts';
import { layoutOf, UcmdStruct } from '../../../impl/iommufd/ucmd.ts';
import type { IoPagetable, IommufdCtx, IommufdIoas } from '../../../impl/iommufd/iommufd_private.ts';
import { ioptAreaIterFirst, ioptCutIova, ioptUnmapAll, ioptUnmapIova } from '../../../impl/iommufd/io_pagetable.ts';

/** iopt_cut_iova with the faulty loop exit. */
function cutIova(iopt: IoPagetable, iovas: readonly bigint[]): number {
  for (const iova of iovas) {
    // THE FAULT: `break` where the kernel has `continue`.
    if (!ioptAreaIterFirst(iopt, iova, iova)) break;
    const rc = ioptCutIova(iopt, [iova]); // iopt_area_split of that area
    if (rc) return rc;
  }
  return 0;
}

/** iommufd_vfio_unmap_dma, as the reference's, over the faulty cut. */
function vfioUnmapDma(ctx: IommufdCtx, d: CompatDecode, arg: bigint): number {
  const unmap = new UcmdStruct(layoutOf(d.command.struct ?? '', ctx.profile), d.bytes);
  const flags = unmap.num('flags');
  if (flags & ~VFIO_DMA_UNMAP_FLAG_ALL) return -EINVAL;
  const ioas = ctx.vfioIoas as IommufdIoas | null;
  if (!ioas || ioas.type !== 'IOAS' || ctx.objects.load(ioas.id) !== ioas) return -ENODEV; // get_compat_ioas
  const iopt = ioas.iopt;
  const iova = unmap.big('iova');
  const size = unmap.big('size');
  const unmapped = { bytes: 0n };
  let rc: number;
  if (flags & VFIO_DMA_UNMAP_FLAG_ALL) {
    if (iova !== 0n || size !== 0n) return -EINVAL;
    rc = ioptUnmapAll(iopt, unmapped);
  } else {
    if (iopt.disableLargePages) {
      // unsigned long arithmetic: the cut points wrap like the kernel's.
      const iovas = [BigInt.asUintN(64, iova + size - 1n), BigInt.asUintN(64, iova - 1n)];
      rc = cutIova(iopt, iova ? iovas : iovas.slice(0, 1));
      if (rc) return rc;
    }
    rc = ioptUnmapIova(iopt, iova, size, unmapped);
  }
  unmap.set('size', unmapped.bytes);
  if (!ctx.proc.copyToUser(arg, unmap.bytes.subarray(0, commandMinSize(ctx.profile, d.command) ?? 0))) rc = -EFAULT;
  return rc;
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('cut-iova-stops-at-gap', profile, {
    compat: { VFIO_IOMMU_UNMAP_DMA: (ctx, d, arg) => vfioUnmapDma(ctx, d, arg) },
  });
}
