/**
 * compat-unmap-accepts-vaddr-flag (drivers/iommu/iommufd/vfio_compat.c,
 * iommufd_vfio_unmap_dma).
 *
 * The kernel's type1 emulation supports one unmap flag:
 *     u32 supported_flags = VFIO_DMA_UNMAP_FLAG_ALL;
 *     ...
 *     if (unmap.argsz < minsz || unmap.flags & ~supported_flags)
 *             return -EINVAL;
 * VFIO_DMA_UNMAP_FLAG_VADDR (invalidate the host vaddr, keep the IOVA mapped,
 * for live update) and GET_DIRTY_BITMAP are refused with EINVAL: iommufd
 * does not implement them (see the VFIO_UPDATE_VADDR comment in
 * iommufd_vfio_check_extension).
 *
 * THE FAULT: supported_flags is VFIO_DMA_UNMAP_FLAG_ALL |
 * VFIO_DMA_UNMAP_FLAG_VADDR, the mask taken over from vfio_iommu_type1.c's
 * vfio_iommu_type1_unmap_dma (which handles VADDR) when the compat code was
 * written, with no VADDR branch behind it. An unmap with FLAG_VADDR is then
 * served as a plain unmap (or, with FLAG_ALL too, as unmap-all).
 *
 * Observable: VFIO_IOMMU_UNMAP_DMA with VFIO_DMA_UNMAP_FLAG_VADDR succeeds and
 * removes the range — the IOVA no longer translates, device DMA to it faults,
 * its pages are unpinned and `size` reports bytes unmapped — where the kernel
 * answers EINVAL and keeps the mapping.
 */
import { EFAULT, EINVAL, ENODEV } from '../../../impl/lib/errno.ts';
import { VFIO_DMA_UNMAP_FLAG_ALL, VFIO_DMA_UNMAP_FLAG_VADDR } from '../../../spec/uapi/constants.ts';
import { commandMinSize } from '../../../spec/uapi/lookup.ts';
import { layoutOf, UcmdStruct } from '../../../impl/iommufd/ucmd.ts';
import type { IommufdIoas } from '../../../impl/iommufd/iommufd_private.ts';
import { ioptCutIova, ioptUnmapAll, ioptUnmapIova } from '../../../impl/iommufd/io_pagetable.ts';
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation } from '../harness.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('compat-unmap-accepts-vaddr-flag', profile, {
    compat: {
      VFIO_IOMMU_UNMAP_DMA: (ctx, d, arg) => {
        const unmap = new UcmdStruct(layoutOf(d.command.struct ?? '', ctx.profile), d.bytes);
        const flags = unmap.num('flags');
        // THE FAULT: type1's mask; VADDR accepted and then ignored.
        const supportedFlags = VFIO_DMA_UNMAP_FLAG_ALL | VFIO_DMA_UNMAP_FLAG_VADDR;
        if (flags & ~supportedFlags) return -EINVAL;
        const ioas = ctx.vfioIoas as IommufdIoas | null;
        if (!ioas || ioas.type !== 'IOAS' || ctx.objects.load(ioas.id) !== ioas) return -ENODEV;
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
            const iovas = [BigInt.asUintN(64, iova + size - 1n), BigInt.asUintN(64, iova - 1n)];
            rc = ioptCutIova(iopt, iova ? iovas : iovas.slice(0, 1));
            if (rc) return rc;
          }
          rc = ioptUnmapIova(iopt, iova, size, unmapped);
        }
        unmap.set('size', unmapped.bytes);
        if (!ctx.proc.copyToUser(arg, unmap.bytes.subarray(0, commandMinSize(ctx.profile, d.command) ?? 0))) rc = -EFAULT;
        return rc;
      },
    },
  });
}
