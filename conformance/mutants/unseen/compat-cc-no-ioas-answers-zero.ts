/**
 * Round 37 fault (VFIO type1 compat, errno): drivers/iommu/iommufd/vfio_compat.c
 * iommufd_vfio_cc_iommu swallows get_compat_ioas()'s error.
 *
 * Correct:
 *     static int iommufd_vfio_cc_iommu(struct iommufd_ctx *ictx)
 *     {
 *             struct iommufd_hwpt_paging *hwpt_paging;
 *             struct iommufd_ioas *ioas;
 *             int rc = 1;
 *
 *             ioas = get_compat_ioas(ictx);
 *             if (IS_ERR(ioas))
 *                     return PTR_ERR(ioas);
 *
 * Fault: `if (IS_ERR(ioas)) return 0;` (the error folded into "not
 * coherent", as if the answer were a boolean only).
 *
 * What a user sees: VFIO_CHECK_EXTENSION(VFIO_DMA_CC_IOMMU) on an iommufd
 * (or /dev/vfio/vfio) with no compat IOAS — none set with IOMMU_VFIO_IOAS, or
 * the one set was destroyed or cleared — returns 0 ("extension not
 * supported") instead of failing with ENODEV, so a VMM cannot tell "no
 * container IOAS yet" from "DMA is not cache coherent" and, e.g., turns on
 * WBINVD emulation on a container it never set up. Both profiles.
 */
import { VFIO_DMA_CC_IOMMU } from '../../../spec/uapi/constants.ts';
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { iommufdVfioCompatIoasGetId } from '../../../impl/iommufd/vfio_compat.ts';
import { mutantImplementation } from '../harness.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('compat-cc-no-ioas-answers-zero', profile, {
    iommufdIoctl: (ctx, d, original) => {
      if (!d.ok || d.kind !== 'int' || d.command.name !== 'VFIO_CHECK_EXTENSION' || d.arg !== BigInt(VFIO_DMA_CC_IOMMU)) return original();
      const rc = original();
      if (rc < 0 && iommufdVfioCompatIoasGetId(ctx).errno === rc) return 0; // get_compat_ioas()'s error, swallowed
      return rc;
    },
  });
}
