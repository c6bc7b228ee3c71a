/**
 * R40-C3 — compat-unmap-size-kept-on-error (drivers/iommu/iommufd/vfio_compat.c,
 * iommufd_vfio_unmap_dma; 6.12 and 7.3).
 *
 * VFIO_IOMMU_UNMAP_DMA reports in `size` how many bytes it unmapped, also when
 * the unmap stopped part-way (type1's contract; vfio_iommu_type1 does the same):
 *
 *     rc = iopt_unmap_iova(&ioas->iopt, unmap.iova, unmap.size, &unmapped);
 *     ...
 *     unmap.size = unmapped;
 *     if (copy_to_user(arg, &unmap, minsz))
 *             rc = -EFAULT;
 *
 * THE FAULT: an error from the unmap leaves the function early
 *
 *     rc = iopt_unmap_iova(...);
 *     if (rc)
 *             goto err_put;
 *
 * so on ENOENT (the range cuts an area in a type1v2 container) or EBUSY the
 * user's `size` is left as it was passed in: userspace that sums `size` to learn
 * what is still mapped (the areas before the failing one ARE gone) believes the
 * whole request or nothing went, and keeps stale IOVA bookkeeping. The
 * successful paths and the early errors (flags, no IOAS, cut) are unchanged.
 *
 * Applied as: the argument's minsz bytes are saved before the reference's
 * handler runs and written back when it fails with anything but EFAULT.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { EFAULT } from '../../../impl/lib/errno.ts';
import { commandMinSize } from '../../../spec/uapi/lookup.ts';
import { mutantImplementation } from '../harness.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('compat-unmap-size-kept-on-error', profile, {
    compat: {
      VFIO_IOMMU_UNMAP_DMA: (ctx, d, arg, original) => {
        const minsz = commandMinSize(ctx.profile, d.command) ?? 0;
        const saved = ctx.proc.copyFromUser(arg, minsz);
        const rc = original();
        // THE FAULT: `if (rc) goto err_put;` before `unmap.size = unmapped` is copied back.
        if (rc < 0 && rc !== -EFAULT && saved) ctx.proc.copyToUser(arg, saved);
        return rc;
      },
    },
  });
}
