/**
 * C8.4 — compat-unmap-all-range-unchecked (drivers/iommu/iommufd/vfio_compat.c
 * iommufd_vfio_unmap_dma).
 *
 * VFIO_DMA_UNMAP_FLAG_ALL unmaps the whole container and requires the range
 * to be empty:
 *     if (unmap.flags & VFIO_DMA_UNMAP_FLAG_ALL) {
 *             if (unmap.iova != 0 || unmap.size != 0) {
 *                     rc = -EINVAL;
 *                     goto err_put;
 *             }
 *             rc = iopt_unmap_all(&ioas->iopt, &unmapped);
 * The fault drops the iova/size test. A VFIO_IOMMU_UNMAP_DMA that sets
 * UNMAP_FLAG_ALL together with a range (a caller that meant "this range",
 * or that ORs the flag in by mistake) no longer fails EINVAL: it tears down
 * every mapping of the container, far beyond the range it named, and
 * reports the total in size.
 *
 * Applied as: the compat VFIO_IOMMU_UNMAP_DMA with FLAG_ALL and a non-empty
 * range runs the reference's unmap-all path.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { EFAULT } from '../../../impl/lib/errno.ts';
import { VFIO_DMA_UNMAP_FLAG_ALL } from '../../../spec/uapi/constants.ts';
import { commandMinSize } from '../../../spec/uapi/lookup.ts';
import { iommufdVfioCompatIoasGetId } from '../../../impl/iommufd/vfio_compat.ts';
import type { IommufdIoas } from '../../../impl/iommufd/iommufd_private.ts';
import { ioptUnmapAll } from '../../../impl/iommufd/io_pagetable.ts';
import { layoutOf, UcmdStruct } from '../../../impl/iommufd/ucmd.ts';
import { mutantImplementation } from '../harness.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('compat-unmap-all-range-unchecked', profile, {
    compat: {
      VFIO_IOMMU_UNMAP_DMA: (ctx, d, arg, original) => {
        const unmap = new UcmdStruct(layoutOf(d.command.struct ?? '', ctx.profile), d.bytes.slice());
        const flags = unmap.num('flags');
        if (flags & ~VFIO_DMA_UNMAP_FLAG_ALL || !(flags & VFIO_DMA_UNMAP_FLAG_ALL)) return original();
        if (unmap.big('iova') === 0n && unmap.big('size') === 0n) return original();
        // THE FAULT: no `if (unmap.iova != 0 || unmap.size != 0) return -EINVAL;`
        const id = iommufdVfioCompatIoasGetId(ctx);
        if (id.errno) return id.errno;
        const ioas = ctx.objects.load(id.value!) as IommufdIoas;
        const unmapped = { bytes: 0n };
        let rc = ioptUnmapAll(ioas.iopt, unmapped);
        unmap.set('size', unmapped.bytes);
        if (!ctx.proc.copyToUser(arg, unmap.bytes.subarray(0, commandMinSize(ctx.profile, d.command) ?? 0))) rc = -EFAULT;
        return rc;
      },
    },
  });
}
