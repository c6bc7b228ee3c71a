/**
 * Round 5a fault (VFIO type1 compat, DMA permissions): iommufd_vfio_map_dma
 * (drivers/iommu/iommufd/vfio_compat.c) translates the type1 flags with a
 * copy-paste slip:
 *
 *     if (map.flags & VFIO_DMA_MAP_FLAG_READ)
 *         iommu_prot |= IOMMU_READ;
 *     if (map.flags & VFIO_DMA_MAP_FLAG_READ)     // should be _WRITE
 *         iommu_prot |= IOMMU_WRITE;
 *
 * Consequence: every VFIO_IOMMU_MAP_DMA with READ is mapped read-write, so a
 * device can write memory the VMM gave it for reading only (guest ROM/BIOS
 * images, virtio rings a device may only read, a read-only memslot); the
 * pages are pinned with FOLL_WRITE, so mapping memory the process cannot
 * write fails EFAULT instead; and a WRITE-only mapping gets no permission at
 * all (the device's writes fault).
 *
 * Applied as: VFIO_IOMMU_MAP_DMA on a live compat IOAS runs the reference's
 * map with the faulty protection.
 */
import { EINVAL } from '../../../impl/lib/errno.ts';
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { VFIO_DMA_MAP_FLAG_READ, VFIO_DMA_MAP_FLAG_WRITE } from '../../../spec/uapi/constants.ts';
import { IOMMU_CACHE, IOMMU_READ, IOMMU_WRITE, ioptMapUserPages } from '../../../impl/iommufd/io_pagetable.ts';
import type { IommufdIoas } from '../../../impl/iommufd/iommufd_private.ts';
import { layoutOf, UcmdStruct } from '../../../impl/iommufd/ucmd.ts';
import { mutantImplementation } from '../harness.ts';


export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('compat-map-read-grants-write', profile, {
    compat: {
      VFIO_IOMMU_MAP_DMA: (ctx, d, _arg, original) => {
        const ioas = ctx.vfioIoas;
        // get_compat_ioas failing (ENODEV), or bad flags: the reference's own answer.
        if (!ioas || ioas.type !== 'IOAS' || ctx.objects.load(ioas.id) !== ioas) return original();
        const map = new UcmdStruct(layoutOf(d.command.struct ?? '', ctx.profile), d.bytes);
        const flags = map.num('flags');
        if (flags & ~(VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE)) return -EINVAL;
        let prot = IOMMU_CACHE;
        if (flags & VFIO_DMA_MAP_FLAG_READ) prot |= IOMMU_READ;
        if (flags & VFIO_DMA_MAP_FLAG_READ) prot |= IOMMU_WRITE; // the fault: _READ tested twice
        const iopt = (ioas as IommufdIoas).iopt;
        return ioptMapUserPages(iopt, ctx.proc, ctx.accountMode === 'MM', map.big('iova'), map.big('vaddr'), map.big('size'), prot, 0, ctx.profile).errno;
      },
    },
  });
}
