/**
 * compat-cc-empty-ioas-not-coherent (drivers/iommu/iommufd/vfio_compat.c
 * iommufd_vfio_cc_iommu, reached from iommufd_vfio_check_extension for
 * VFIO_DMA_CC_IOMMU).
 *
 * The kernel answers "coherent" unless some paging HWPT of the compat IOAS
 * does not enforce cache coherency; an IOAS with no HWPT yet is coherent:
 *
 *     static int iommufd_vfio_cc_iommu(struct iommufd_ctx *ictx)
 *     {
 *             struct iommufd_hwpt_paging *hwpt_paging;
 *             struct iommufd_ioas *ioas;
 *             int rc = 1;
 *             ...
 *             list_for_each_entry(hwpt_paging, &ioas->hwpt_list, hwpt_item) {
 *                     if (!hwpt_paging->enforce_cache_coherency) {
 *                             rc = 0;
 *                             break;
 *                     }
 *             }
 *
 * The fault: rc starts from list_empty(&ioas->hwpt_list) ? 0 : 1, i.e. a
 * compat IOAS without any domain (no device attached yet) is reported as not
 * coherent.
 *
 * A user sees VFIO_CHECK_EXTENSION(VFIO_DMA_CC_IOMMU) return 0 on a container
 * whose IOAS has no HWPT (type1 answers 1 there too), so QEMU-style users
 * conclude they need WBINVD emulation / no-snoop handling they do not need.
 * Both profiles.
 *
 * Applied as: the iommufd file's ioctl answers VFIO_CHECK_EXTENSION with
 * arg VFIO_DMA_CC_IOMMU by 0 when the compat IOAS exists and its hwpt_list
 * is empty; everything else is the reference's own dispatch.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import type { IommufdIoas } from '../../../impl/iommufd/iommufd_private.ts';
import { VFIO_DMA_CC_IOMMU } from '../../../spec/uapi/constants.ts';
import { mutantImplementation } from '../harness.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('compat-cc-empty-ioas-not-coherent', profile, {
    iommufdIoctl: (ctx, d, original) => {
      const rc = original();
      if (!d.ok || d.kind !== 'int' || d.command.name !== 'VFIO_CHECK_EXTENSION' || d.arg !== BigInt(VFIO_DMA_CC_IOMMU) || rc !== 1) return rc;
      const ioas = ctx.vfioIoas as IommufdIoas | null;
      // THE FAULT: rc = list_empty(&ioas->hwpt_list) ? 0 : 1
      if (ioas && ioas.type === 'IOAS' && ioas.hwptList.length === 0) return 0;
      return rc;
    },
  });
}
