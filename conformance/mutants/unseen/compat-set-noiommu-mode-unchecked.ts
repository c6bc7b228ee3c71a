/**
 * compat-set-noiommu-mode-unchecked (drivers/iommu/iommufd/vfio_compat.c,
 * iommufd_vfio_set_iommu).
 *
 * VFIO_SET_IOMMU on an iommufd container accepts VFIO_NOIOMMU_IOMMU only on a
 * context VFIO put into no-iommu mode; on any other context the type is
 * refused with the other unknown types (6.12 and 7.3 alike):
 *
 *     bool no_iommu_mode = READ_ONCE(ictx->no_iommu_mode);
 *     ...
 *     if (IS_ENABLED(CONFIG_VFIO_NOIOMMU) && type == VFIO_NOIOMMU_IOMMU &&
 *         no_iommu_mode) {
 *             if (!capable(CAP_SYS_RAWIO))
 *                     return -EPERM;
 *             return 0;
 *     }
 *
 *     if ((type != VFIO_TYPE1_IOMMU && type != VFIO_TYPE1v2_IOMMU) ||
 *         no_iommu_mode)
 *             return -EINVAL;
 *
 * The fault loses the `&& no_iommu_mode` conjunct of the first test (the
 * mode is re-tested just below, so it reads as redundant). On an ordinary,
 * IOMMU-backed context, VFIO_SET_IOMMU(VFIO_NOIOMMU_IOMMU) — a less common
 * argument, which VFIO_CHECK_EXTENSION(VFIO_NOIOMMU_IOMMU) = 1 invites a
 * VMM to try — now succeeds for a CAP_SYS_RAWIO caller (EPERM for others)
 * instead of failing EINVAL: the caller believes it set up an unprotected
 * no-IOMMU container while its DMA still goes through the IOMMU, and it
 * skips the type1 setup it would have fallen back to.
 *
 * Observable: VFIO_SET_IOMMU with VFIO_NOIOMMU_IOMMU (8) on /dev/iommu answers
 * 0 (or EPERM without CAP_SYS_RAWIO) where the kernel answers EINVAL.
 *
 * Applied as: every iommufd file the process installs has its ioctl wrapped;
 * VFIO_SET_IOMMU(VFIO_NOIOMMU_IOMMU) takes the no-iommu branch whatever the
 * context's mode; every other command is the reference's.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { EPERM } from '../../../impl/lib/errno.ts';
import { VFIO_NOIOMMU_IOMMU } from '../../../spec/uapi/constants.ts';
import { mutantImplementation } from '../harness.ts';

/** CONFIG_VFIO_NOIOMMU, as the reference's vfio_compat.ts has it (the Debian kernels enable it). */
const CONFIG_VFIO_NOIOMMU = true;

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('compat-set-noiommu-mode-unchecked', profile, {
    iommufdIoctl: (ctx, d, original) => {
      if (d.ok && d.kind === 'int' && d.command.name === 'VFIO_SET_IOMMU' && CONFIG_VFIO_NOIOMMU && d.arg === BigInt(VFIO_NOIOMMU_IOMMU)) {
        // THE FAULT: `type == VFIO_NOIOMMU_IOMMU` without `&& no_iommu_mode`.
        return ctx.proc.capable('CAP_SYS_RAWIO') ? 0 : -EPERM;
      }
      return original();
    },
  });
}
