/**
 * Round 5a fault (VFIO type1 compat, object lifetime): iommufd_object_remove
 * (drivers/iommu/iommufd/main.c) no longer clears ictx->vfio_ioas when the
 * object it destroys is the compat IOAS — the
 *
 *     if (ictx->vfio_ioas == container_of(obj, struct iommufd_ioas, obj))
 *         ictx->vfio_ioas = NULL;
 *
 * dropped (e.g. moved into a path IOMMU_DESTROY does not take). The IOAS set
 * with IOMMU_VFIO_IOAS(SET) — which takes no reference — can be destroyed
 * with IOMMU_DESTROY while ictx->vfio_ioas still points at it.
 *
 * Consequence: a use-after-free reachable from userspace. get_compat_ioas()
 * hands the freed IOAS to every type1 container ioctl: VFIO_IOMMU_MAP_DMA
 * and UNMAP_DMA succeed on it (the kernel would write freed memory; its
 * io_pagetable and the pages it pins are reachable from nothing), and
 * IOMMU_VFIO_IOAS(GET) reports the destroyed id, which a later
 * allocation may have been given to another object, instead of ENODEV.
 *
 * Applied as: after a successful IOMMU_DESTROY of the compat IOAS, the
 * context keeps pointing at it; while it does, IOMMU_VFIO_IOAS(GET) and
 * VFIO_IOMMU_MAP_DMA / UNMAP_DMA act on the destroyed IOAS (as the
 * reference's own handlers would on a live one).
 */
import { EFAULT, EINVAL } from '../../../impl/lib/errno.ts';
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { IOMMU_VFIO_IOAS_GET, VFIO_DMA_MAP_FLAG_READ, VFIO_DMA_MAP_FLAG_WRITE, VFIO_DMA_UNMAP_FLAG_ALL } from '../../../spec/uapi/constants.ts';
import { commandMinSize } from '../../../spec/uapi/lookup.ts';
import { IOMMU_CACHE, IOMMU_READ, IOMMU_WRITE, ioptCutIova, ioptMapUserPages, ioptUnmapAll, ioptUnmapIova } from '../../../impl/iommufd/io_pagetable.ts';
import { iommufdUcmdRespond, type IommufdCtx, type IommufdIoas } from '../../../impl/iommufd/iommufd_private.ts';
import { layoutOf, UcmdStruct } from '../../../impl/iommufd/ucmd.ts';
import { mutantImplementation, type CompatDecode } from '../harness.ts';


/** The destroyed compat IOAS ctx->vfio_ioas still points at, if it does. */
function dangling(ctx: IommufdCtx): IommufdIoas | undefined {
  const ioas = ctx.vfioIoas;
  return ioas && ioas.type === 'IOAS' && ctx.objects.load(ioas.id) !== ioas ? (ioas as IommufdIoas) : undefined;
}

const structOf = (ctx: IommufdCtx, d: CompatDecode) => new UcmdStruct(layoutOf(d.command.struct ?? '', ctx.profile), d.bytes);

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('compat-ioas-dangling', profile, {
    handlers: {
      IOMMU_DESTROY: (ucmd, original) => {
        const compat = ucmd.ctx.vfioIoas;
        const rc = original(ucmd);
        if (rc === 0 && compat && ucmd.ctx.vfioIoas === null && compat.users === 0) ucmd.ctx.vfioIoas = compat; // not cleared
        return rc;
      },
      IOMMU_VFIO_IOAS: (ucmd, original) => {
        const dead = dangling(ucmd.ctx);
        if (!dead || ucmd.cmd.num('__reserved') || ucmd.cmd.num('op') !== IOMMU_VFIO_IOAS_GET) return original(ucmd);
        ucmd.cmd.set('ioas_id', dead.id);
        return iommufdUcmdRespond(ucmd);
      },
    },
    compat: {
      VFIO_IOMMU_MAP_DMA: (ctx, d, _arg, original) => {
        const dead = dangling(ctx);
        if (!dead) return original();
        const map = structOf(ctx, d);
        const flags = map.num('flags');
        if (flags & ~(VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE)) return -EINVAL;
        let prot = IOMMU_CACHE;
        if (flags & VFIO_DMA_MAP_FLAG_READ) prot |= IOMMU_READ;
        if (flags & VFIO_DMA_MAP_FLAG_WRITE) prot |= IOMMU_WRITE;
        return ioptMapUserPages(dead.iopt, ctx.proc, ctx.accountMode === 'MM', map.big('iova'), map.big('vaddr'), map.big('size'), prot, 0, ctx.profile).errno;
      },
      VFIO_IOMMU_UNMAP_DMA: (ctx, d, arg, original) => {
        const dead = dangling(ctx);
        if (!dead) return original();
        const unmap = structOf(ctx, d);
        const flags = unmap.num('flags');
        if (flags & ~VFIO_DMA_UNMAP_FLAG_ALL) return -EINVAL;
        const iova = unmap.big('iova');
        const size = unmap.big('size');
        const unmapped = { bytes: 0n };
        let rc: number;
        if (flags & VFIO_DMA_UNMAP_FLAG_ALL) {
          if (iova !== 0n || size !== 0n) return -EINVAL;
          rc = ioptUnmapAll(dead.iopt, unmapped);
        } else {
          if (dead.iopt.disableLargePages) {
            const iovas = [BigInt.asUintN(64, iova + size - 1n), BigInt.asUintN(64, iova - 1n)];
            rc = ioptCutIova(dead.iopt, iova ? iovas : iovas.slice(0, 1));
            if (rc) return rc;
          }
          rc = ioptUnmapIova(dead.iopt, iova, size, unmapped);
        }
        unmap.set('size', unmapped.bytes);
        if (!ctx.proc.copyToUser(arg, unmap.bytes.subarray(0, commandMinSize(ctx.profile, d.command) ?? 0))) rc = -EFAULT;
        return rc;
      },
    },
  });
}
