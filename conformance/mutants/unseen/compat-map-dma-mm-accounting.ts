/**
 * compat-map-dma-mm-accounting (drivers/iommu/iommufd/vfio_compat.c
 * iommufd_vfio_map_dma; 6.12 and 7.3).
 *
 * VFIO_IOMMU_MAP_DMA on an iommufd maps through the context's own accounting
 * mode, like IOMMU_IOAS_MAP: a context opened as /dev/vfio/vfio starts in
 * IOMMUFD_ACCOUNT_MM (mm->locked_vm, as type1 charges), one opened as
 * /dev/iommu in IOMMUFD_ACCOUNT_USER (user->locked_vm), and
 * IOMMU_OPTION_RLIMIT_MODE switches between them. The kernel:
 *
 *     (comment) Maps created through the legacy interface always use VFIO
 *               compatible rlimit accounting. If the user wishes to use the
 *               faster user based rlimit accounting then they must use the
 *               new interface.
 *     iova = map.iova;
 *     rc = iopt_map_user_pages(ictx, &ioas->iopt, &iova, u64_to_user_ptr(map.vaddr),
 *                              map.size, iommu_prot, 0);
 *
 * iopt_map_user_pages() → iopt_alloc_user_pages() takes the mode from
 * ictx->account_mode (IOPT_PAGES_ACCOUNT_NONE under CAP_IPC_LOCK): the comment
 * describes the /dev/vfio/vfio default, not an override.
 *
 * THE FAULT: the map is made to follow the comment literally — the pages of a
 * type1 map are always charged IOPT_PAGES_ACCOUNT_MM (unless CAP_IPC_LOCK
 * exempts them), whatever the context's mode:
 *
 *     pages->account_mode = IOPT_PAGES_ACCOUNT_MM;   (in place of ictx->account_mode)
 *
 * Observable on a /dev/iommu context (or one switched to RLIMIT_MODE 0)
 * whose compat IOAS (IOMMU_VFIO_IOAS SET) has a domain, with CAP_IPC_LOCK
 * dropped, once the map pins its pages:
 *   - VmLck (process_info lockedVmPages) grows by the mapped pages, where the
 *     kernel charges the user's locked_vm and leaves mm->locked_vm alone;
 *   - RLIMIT_MEMLOCK is checked against the wrong counter: type1 maps and
 *     IOMMU_IOAS_MAP maps of the same user no longer add up (each counter
 *     gets the whole limit), so the process can pin twice its limit; and a
 *     type1 map is refused (ENOMEM) by pages charged to mm->locked_vm by
 *     another context in MM mode that the kernel would not count against it;
 *   - IOMMU_IOAS_COPY of such an area into a plain IOAS carries the MM
 *     charge along (the pages keep their mode), so maps made only through
 *     the new interface are charged to the mm as well.
 * Unpinning returns the charge to the counter it came from, so nothing is
 * left over once everything is unmapped.
 *
 * Applied as: VFIO_IOMMU_MAP_DMA on an iommufd file is a copy of
 * iommufd_vfio_map_dma that maps with the MM accounting mode; everything
 * else is the reference's.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { EINVAL, ENODEV } from '../../../impl/lib/errno.ts';
import { VFIO_DMA_MAP_FLAG_READ, VFIO_DMA_MAP_FLAG_WRITE } from '../../../spec/uapi/constants.ts';
import { layoutOf, UcmdStruct } from '../../../impl/iommufd/ucmd.ts';
import type { IommufdCtx, IommufdIoas } from '../../../impl/iommufd/iommufd_private.ts';
import { IOMMU_CACHE, IOMMU_READ, IOMMU_WRITE, ioptMapUserPages } from '../../../impl/iommufd/io_pagetable.ts';
import { mutantImplementation, type CompatDecode } from '../harness.ts';

/** get_compat_ioas: ENODEV when there is none (or it was destroyed). */
function getCompatIoas(ctx: IommufdCtx): IommufdIoas | null {
  const ioas = ctx.vfioIoas;
  if (!ioas || ioas.type !== 'IOAS' || ctx.objects.load(ioas.id) !== ioas) return null;
  return ioas as IommufdIoas;
}

/** iommufd_vfio_map_dma with THE FAULT. */
function vfioMapDma(ctx: IommufdCtx, d: CompatDecode): number {
  const map = new UcmdStruct(layoutOf(d.command.struct ?? '', ctx.profile), d.bytes);
  const flags = map.num('flags');
  if (flags & ~(VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE)) return -EINVAL;
  let prot = IOMMU_CACHE;
  if (flags & VFIO_DMA_MAP_FLAG_READ) prot |= IOMMU_READ;
  if (flags & VFIO_DMA_MAP_FLAG_WRITE) prot |= IOMMU_WRITE;
  const ioas = getCompatIoas(ctx);
  if (!ioas) return -ENODEV;
  // THE FAULT: "legacy maps always use VFIO compatible rlimit accounting" — MM, not ctx->account_mode.
  return ioptMapUserPages(ioas.iopt, ctx.proc, true, map.big('iova'), map.big('vaddr'), map.big('size'), prot, 0, ctx.profile).errno;
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('compat-map-dma-mm-accounting', profile, {
    compat: { VFIO_IOMMU_MAP_DMA: (ctx, d) => vfioMapDma(ctx, d) },
  });
}
