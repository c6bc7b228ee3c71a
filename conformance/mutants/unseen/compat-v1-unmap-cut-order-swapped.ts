/**
 * compat-v1-unmap-cut-order-swapped (drivers/iommu/iommufd/vfio_compat.c,
 * iommufd_vfio_unmap_dma, the VFIO_TYPE1_IOMMU (v1) branch).
 *
 * A type1 v1 container may unmap inside a mapping, so iommufd's emulation cuts
 * the areas at both ends of the range first (large pages are disabled in v1,
 * so every cut is possible). The start cut is skipped when the range starts at
 * IOVA 0, by passing a count of 1 — which works only because the end cut is
 * the array's first element (6.12 and 7.3 alike):
 *
 *     unsigned long iovas[] = { unmap.iova + unmap.size - 1,
 *                               unmap.iova - 1 };
 *
 *     rc = iopt_cut_iova(&ioas->iopt, iovas,
 *                        unmap.iova ? 2 : 1);
 *
 * The fault writes the two cut points in address order,
 *
 *     unsigned long iovas[] = { unmap.iova - 1,
 *                               unmap.iova + unmap.size - 1 };
 *
 * keeping the count expression: for any non-zero start nothing changes, but
 * for a range that starts at IOVA 0 the one cut made is at `0 - 1` (ULONG_MAX,
 * where nothing is mapped) and the end is never cut.
 *
 * Observable: on a container set to VFIO_TYPE1_IOMMU, VFIO_IOMMU_UNMAP_DMA of
 * [0, size) where the mapping at 0 extends past size fails with ENOENT (the
 * area is not covered by the range) and `size` comes back 0, where the kernel
 * splits the area and unmaps the first `size` bytes: the pages stay mapped and
 * pinned, and a v1 user (which never expects unmap-in-the-middle to fail)
 * believes its IOVA space is in a state it is not.
 *
 * Applied as: VFIO_IOMMU_UNMAP_DMA on an iommufd file is a copy of
 * iommufd_vfio_unmap_dma with the swapped array.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { EFAULT, EINVAL, ENODEV } from '../../../impl/lib/errno.ts';
import { VFIO_DMA_UNMAP_FLAG_ALL } from '../../../spec/uapi/constants.ts';
import { commandMinSize } from '../../../spec/uapi/lookup.ts';
import { layoutOf, UcmdStruct } from '../../../impl/iommufd/ucmd.ts';
import type { IommufdCtx, IommufdIoas } from '../../../impl/iommufd/iommufd_private.ts';
import { ioptCutIova, ioptUnmapAll, ioptUnmapIova } from '../../../impl/iommufd/io_pagetable.ts';
import { mutantImplementation, type CompatDecode } from '../harness.ts';

/** get_compat_ioas */
function getCompatIoas(ctx: IommufdCtx): IommufdIoas | null {
  const ioas = ctx.vfioIoas;
  if (!ioas || ioas.type !== 'IOAS' || ctx.objects.load(ioas.id) !== ioas) return null;
  return ioas as IommufdIoas;
}

/** iommufd_vfio_unmap_dma with the cut points in address order. */
function unmapDma(ctx: IommufdCtx, d: CompatDecode, arg: bigint): number {
  const unmap = new UcmdStruct(layoutOf(d.command.struct ?? '', ctx.profile), d.bytes);
  const flags = unmap.num('flags');
  if (flags & ~VFIO_DMA_UNMAP_FLAG_ALL) return -EINVAL;
  const ioas = getCompatIoas(ctx);
  if (!ioas) return -ENODEV;
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
      // THE FAULT: { iova - 1, iova + size - 1 } with the count `iova ? 2 : 1` kept.
      const iovas = [BigInt.asUintN(64, iova - 1n), BigInt.asUintN(64, iova + size - 1n)];
      rc = ioptCutIova(iopt, iova ? iovas : iovas.slice(0, 1));
      if (rc) return rc;
    }
    rc = ioptUnmapIova(iopt, iova, size, unmapped);
  }
  unmap.set('size', unmapped.bytes);
  if (!ctx.proc.copyToUser(arg, unmap.bytes.subarray(0, commandMinSize(ctx.profile, d.command) ?? 0))) rc = -EFAULT;
  return rc;
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('compat-v1-unmap-cut-order-swapped', profile, {
    compat: {
      VFIO_IOMMU_UNMAP_DMA: (ctx, d, arg) => unmapDma(ctx, d, arg),
    },
  });
}
