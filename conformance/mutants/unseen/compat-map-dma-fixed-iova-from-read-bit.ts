/**
 * compat-map-dma-fixed-iova-from-read-bit (drivers/iommu/iommufd/vfio_compat.c,
 * iommufd_vfio_map_dma).
 *
 * VFIO type1 has no automatic IOVA: VFIO_IOMMU_MAP_DMA always maps at the
 * caller's map.iova, so the compat handler passes no iopt flags (6.12 and 7.3
 * alike):
 *
 *     iova = map.iova;
 *     rc = iopt_map_user_pages(ictx, &ioas->iopt, &iova,
 *                              u64_to_user_ptr(map.vaddr), map.size,
 *                              iommu_prot, 0);
 *
 * The fault carries over the idiom of its neighbour iommufd_ioas_map (ioas.c),
 * which picks the IOVA itself unless the caller asked for a fixed one:
 *
 *     if (!(cmd->flags & IOMMU_IOAS_MAP_FIXED_IOVA))
 *             flags = IOPT_ALLOC_IOVA;
 *
 * applied to map.flags. IOMMU_IOAS_MAP_FIXED_IOVA is bit 0, which in struct
 * vfio_iommu_type1_dma_map is VFIO_DMA_MAP_FLAG_READ, so every map that asks
 * for read permission still lands at map.iova and everything looks right; only
 * a map without READ — a write-only buffer (VFIO_DMA_MAP_FLAG_WRITE alone) —
 * gets IOPT_ALLOC_IOVA: iopt_alloc_iova places it at the first free, suitably
 * aligned IOVA of the compat IOAS and ignores map.iova. Type1 never reports
 * an IOVA back, so the caller keeps believing the buffer is at map.iova.
 *
 * Observable: VFIO_IOMMU_MAP_DMA with flags = VFIO_DMA_MAP_FLAG_WRITE at an
 * IOVA other than the allocator's first choice: the device's DMA at map.iova
 * faults (unmapped) while the user pages are reachable at another IOVA the
 * caller never mapped; a write-only map over an existing mapping succeeds
 * (elsewhere) instead of EEXIST, one at a reserved IOVA succeeds instead of
 * EINVAL; VFIO_IOMMU_UNMAP_DMA of map.iova finds nothing there.
 *
 * Applied as: a copy of the reference's iommufd_vfio_map_dma with the iopt
 * flags taken from map.flags as above.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { EINVAL, ENODEV } from '../../../impl/lib/errno.ts';
import { IOMMU_IOAS_MAP_FIXED_IOVA, VFIO_DMA_MAP_FLAG_READ, VFIO_DMA_MAP_FLAG_WRITE } from '../../../spec/uapi/constants.ts';
import { layoutOf, UcmdStruct } from '../../../impl/iommufd/ucmd.ts';
import type { IommufdCtx, IommufdIoas } from '../../../impl/iommufd/iommufd_private.ts';
import { IOMMU_CACHE, IOMMU_READ, IOMMU_WRITE, IOPT_ALLOC_IOVA, ioptMapUserPages } from '../../../impl/iommufd/io_pagetable.ts';
import { mutantImplementation, type CompatDecode } from '../harness.ts';

/** get_compat_ioas */
function compatIoas(ctx: IommufdCtx): IommufdIoas | undefined {
  const ioas = ctx.vfioIoas;
  if (!ioas || ioas.type !== 'IOAS' || ctx.objects.load(ioas.id) !== ioas) return undefined;
  return ioas as IommufdIoas;
}

/** iommufd_vfio_map_dma with the faulty iopt flags. */
function mapDma(ctx: IommufdCtx, d: CompatDecode): number {
  const map = new UcmdStruct(layoutOf(d.command.struct ?? '', ctx.profile), d.bytes);
  const mapFlags = map.num('flags');
  if (mapFlags & ~(VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE)) return -EINVAL;
  let prot = IOMMU_CACHE;
  if (mapFlags & VFIO_DMA_MAP_FLAG_READ) prot |= IOMMU_READ;
  if (mapFlags & VFIO_DMA_MAP_FLAG_WRITE) prot |= IOMMU_WRITE;
  const ioas = compatIoas(ctx);
  if (!ioas) return -ENODEV;
  // THE FAULT: iommufd_ioas_map's `if (!(cmd->flags & IOMMU_IOAS_MAP_FIXED_IOVA)) flags = IOPT_ALLOC_IOVA;`
  // on a type1 struct, where bit 0 is VFIO_DMA_MAP_FLAG_READ.
  const flags = mapFlags & IOMMU_IOAS_MAP_FIXED_IOVA ? 0 : IOPT_ALLOC_IOVA;
  const m = ioptMapUserPages(ioas.iopt, ctx.proc, ctx.accountMode === 'MM', map.big('iova'), map.big('vaddr'), map.big('size'), prot, flags, ctx.profile);
  return m.errno;
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('compat-map-dma-fixed-iova-from-read-bit', profile, {
    compat: { VFIO_IOMMU_MAP_DMA: (ctx, d) => mapDma(ctx, d) },
  });
}
