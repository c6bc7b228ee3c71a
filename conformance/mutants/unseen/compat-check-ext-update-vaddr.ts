/**
 * compat-check-ext-update-vaddr (drivers/iommu/iommufd/vfio_compat.c,
 * iommufd_vfio_check_extension).
 *
 * The kernel reports VFIO_UPDATE_VADDR as absent, with the comment saying
 * why, right above `default`:
 *     case VFIO_TYPE1_IOMMU:
 *     case VFIO_TYPE1v2_IOMMU:
 *     case VFIO_UNMAP_ALL:
 *             return !ictx->no_iommu_mode;
 *     ...
 *     case __VFIO_RESERVED_TYPE1_NESTING_IOMMU:
 *             return 0;
 *     // VFIO_DMA_MAP_FLAG_VADDR ... It is hard to see how this could be
 *     // implemented safely.
 *     case VFIO_UPDATE_VADDR:
 *     default:
 *             return 0;
 *
 * THE FAULT: `case VFIO_UPDATE_VADDR:` sits in the first group, next to
 * VFIO_UNMAP_ALL (the other type1 feature extension it was added alongside in
 * vfio_iommu_type1.c's vfio_iommu_type1_check_extension, where both return 1)
 * — a case label moved when the switch was reordered.
 *
 * Observable: VFIO_CHECK_EXTENSION(VFIO_UPDATE_VADDR) on an iommufd used as a
 * container returns 1 where the kernel returns 0; userspace (QEMU's cpr) then
 * relies on VFIO_DMA_MAP_FLAG_VADDR / VFIO_DMA_UNMAP_FLAG_VADDR, which
 * iommufd refuses with EINVAL.
 */
import { VFIO_UPDATE_VADDR } from '../../../spec/uapi/constants.ts';
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation } from '../harness.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('compat-check-ext-update-vaddr', profile, {
    // iommufd_vfio_check_extension; THE FAULT: VFIO_UPDATE_VADDR grouped with TYPE1 / TYPE1v2 / UNMAP_ALL.
    iommufdIoctl: (ctx, d, original) => (d.ok && d.kind === 'int' && d.command.name === 'VFIO_CHECK_EXTENSION' && d.arg === BigInt(VFIO_UPDATE_VADDR) ? (ctx.noIommuMode ? 0 : 1) : original()),
  });
}
