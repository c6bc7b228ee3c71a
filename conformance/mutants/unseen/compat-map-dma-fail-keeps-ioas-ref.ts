/**
 * compat-map-dma-fail-keeps-ioas-ref (drivers/iommu/iommufd/vfio_compat.c,
 * iommufd_vfio_map_dma).
 *
 * The kernel (6.12 and 7.3) looks the compat IOAS up with get_compat_ioas(),
 * which takes a reference (iommufd_lock_obj) on it, and puts it whatever the
 * map answered:
 *     ioas = get_compat_ioas(ictx);
 *     if (IS_ERR(ioas))
 *             return PTR_ERR(ioas);
 *     iova = map.iova;
 *     rc = iopt_map_user_pages(ictx, &ioas->iopt, &iova, u64_to_user_ptr(map.vaddr),
 *                              map.size, iommu_prot, 0);
 *     iommufd_put_object(ictx, &ioas->obj);
 *     return rc;
 *
 * THE FAULT: the map's failure returns early, before the put:
 *     rc = iopt_map_user_pages(...);
 *     if (rc)
 *             return rc;
 *     iommufd_put_object(ictx, &ioas->obj);
 *     return 0;
 * (the usual "bail out on error" shape, written without the put that the
 * success path keeps). VFIO_IOMMU_MAP_DMA answers exactly as the kernel does
 * (EEXIST over an existing mapping, EFAULT for a bad vaddr, EINVAL for a
 * misaligned or reserved IOVA, ENOMEM over RLIMIT_MEMLOCK...), but every
 * failed map leaves one more users reference on the compat IOAS.
 *
 * Observable later, on the IOAS object: IOMMU_DESTROY of the compat IOAS
 * (after IOMMU_VFIO_IOAS CLEAR or not) is EBUSY forever where the kernel
 * destroys it, and closing the iommufd cannot free the IOAS (users > 1): its
 * remaining mappings stay pinned and charged after the last close.
 *
 * Applied as: the reference's VFIO_IOMMU_MAP_DMA; when it fails after
 * get_compat_ioas succeeded (flags valid, a live compat IOAS), one users
 * reference is taken on that IOAS.
 */
import { VFIO_DMA_MAP_FLAG_READ, VFIO_DMA_MAP_FLAG_WRITE } from '../../../spec/uapi/constants.ts';
import { refcount_inc } from '../../../impl/iommufd/object.ts';
import { layoutOf, UcmdStruct } from '../../../impl/iommufd/ucmd.ts';
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation } from '../harness.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('compat-map-dma-fail-keeps-ioas-ref', profile, {
    compat: {
      VFIO_IOMMU_MAP_DMA: (ctx, d, _arg, original) => {
        const map = new UcmdStruct(layoutOf(d.command.struct ?? '', ctx.profile), d.bytes);
        // map.flags & ~supported_flags: EINVAL before the lookup, nothing taken.
        if (map.num('flags') & ~(VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE)) return original();
        // get_compat_ioas: ENODEV (nothing taken) unless the compat IOAS is a live object.
        const ioas = ctx.vfioIoas;
        const locked = ioas !== null && ioas.type === 'IOAS' && ctx.objects.load(ioas.id) === ioas ? ioas : null;
        const rc = original();
        // THE FAULT: `if (rc) return rc;` before iommufd_put_object(): the lookup's reference stays.
        if (rc < 0 && locked) refcount_inc(locked);
        return rc;
      },
    },
  });
}
