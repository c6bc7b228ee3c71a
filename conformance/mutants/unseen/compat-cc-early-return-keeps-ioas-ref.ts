/**
 * compat-cc-early-return-keeps-ioas-ref — compat IOAS lifetime after a
 * VFIO_CHECK_EXTENSION(VFIO_DMA_CC_IOMMU) that finds a non-coherent HWPT.
 *
 * Kernel: drivers/iommu/iommufd/vfio_compat.c, iommufd_vfio_cc_iommu()
 * (6.12 and 7.3 alike):
 *
 *     ioas = get_compat_ioas(ictx);          // iommufd_lock_obj: users++
 *     if (IS_ERR(ioas))
 *             return PTR_ERR(ioas);
 *
 *     mutex_lock(&ioas->mutex);
 *     list_for_each_entry(hwpt_paging, &ioas->hwpt_list, hwpt_item) {
 *             if (!hwpt_paging->enforce_cache_coherency) {
 *                     rc = 0;
 *                     break;
 *             }
 *     }
 *     mutex_unlock(&ioas->mutex);
 *
 *     iommufd_put_object(ictx, &ioas->obj);
 *     return rc;
 *
 * The fault: the classic early return out of the walk —
 *
 *             if (!hwpt_paging->enforce_cache_coherency) {
 *                     mutex_unlock(&ioas->mutex);
 *                     return 0;
 *             }
 *
 * — unlocks but skips iommufd_put_object(), so the reference get_compat_ioas()
 * took on the compat IOAS is never dropped. Only the "not coherent" answer
 * leaks; with no HWPT, or only coherency-enforcing ones (the usual VT-d/AMD
 * test setups), the function falls through to the put.
 *
 * Observable: once some HWPT of the compat IOAS does not enforce coherency (a
 * vtd1 device, an SMMUv3 master without CANWBS, a mock device) and userspace
 * asks VFIO_CHECK_EXTENSION(VFIO_DMA_CC_IOMMU) (answer 0, as the kernel), the
 * compat IOAS can never be destroyed: IOMMU_DESTROY is EBUSY even after every
 * device detached and its HWPT went (kernel: 0), and closing the iommufd
 * cannot release the IOAS (iommufd_fops_release's WARN_ON(!destroyed)), so its
 * mapped pages stay pinned and charged after the process closed everything.
 *
 * Applied as: VFIO_CHECK_EXTENSION(VFIO_DMA_CC_IOMMU) on an iommufd is
 * answered by this copy of iommufd_vfio_cc_iommu, whose early return keeps a
 * users reference on the compat IOAS; everything else is the reference's.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { ENODEV } from '../../../impl/lib/errno.ts';
import { VFIO_DMA_CC_IOMMU } from '../../../spec/uapi/constants.ts';
import { refcount_inc } from '../../../impl/iommufd/object.ts';
import type { IommufdCtx, IommufdIoas } from '../../../impl/iommufd/iommufd_private.ts';
import { mutantImplementation } from '../harness.ts';

/** iommufd_vfio_cc_iommu with the early return that skips iommufd_put_object. */
function ccIommuLeaky(ctx: IommufdCtx): number {
  // get_compat_ioas: ENODEV unless the compat IOAS is a live IOAS of this ctx.
  const ioas = ctx.vfioIoas;
  if (!ioas || ioas.type !== 'IOAS' || ctx.objects.load(ioas.id) !== ioas) return -ENODEV;
  const compat = ioas as IommufdIoas;
  refcount_inc(compat); // iommufd_lock_obj
  for (const hwpt of compat.hwptList) {
    if (!hwpt.enforceCacheCoherency) return 0; // mutex_unlock(); return 0; — the users reference stays
  }
  compat.users--; // iommufd_put_object
  return 1;
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('compat-cc-early-return-keeps-ioas-ref', profile, {
    iommufdIoctl: (ctx, d, original) => (d.ok && d.kind === 'int' && d.command.name === 'VFIO_CHECK_EXTENSION' && d.arg === BigInt(VFIO_DMA_CC_IOMMU) ? ccIommuLeaky(ctx) : original()),
  });
}
