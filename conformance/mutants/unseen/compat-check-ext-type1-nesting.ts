/**
 * compat-check-ext-type1-nesting (drivers/iommu/iommufd/vfio_compat.c,
 * iommufd_vfio_check_extension).
 *
 * VFIO_CHECK_EXTENSION on an iommufd-served container answers 1 only for what
 * the emulation really provides; the obsolete nesting type is refused:
 *
 *     switch (type) {
 *     case VFIO_TYPE1_IOMMU:
 *     case VFIO_TYPE1v2_IOMMU:
 *     case VFIO_UNMAP_ALL:
 *             return !ictx->no_iommu_mode;
 *     ...
 *     case VFIO_TYPE1_NESTING_IOMMU:          (7.3: __VFIO_RESERVED_TYPE1_NESTING_IOMMU)
 *             return 0;
 *
 * The fault is the switch as vfio_iommu_type1.c (6.12) writes it, where the
 * nesting type sits in the TYPE1 group:
 *
 *     case VFIO_TYPE1_IOMMU:
 *     case VFIO_TYPE1v2_IOMMU:
 *     case VFIO_TYPE1_NESTING_IOMMU:
 *     case VFIO_UNMAP_ALL:
 *             return !ictx->no_iommu_mode;
 *
 * — a port of type1's case list that keeps one label too many. The container
 * then advertises VFIO_TYPE1_NESTING_IOMMU (value 6), which VFIO_SET_IOMMU
 * refuses (EINVAL) and which the compat layer never implements: a VMM that
 * probes for nesting and selects it fails to set up its container, and any
 * tool reading the extension list reports a capability that is not there.
 *
 * Observable: VFIO_CHECK_EXTENSION(6) returns 1 instead of 0 on an iommufd
 * (/dev/iommu or /dev/vfio/vfio) file, with or without a compat IOAS.
 *
 * Applied as: an iommufd file's ioctl answers VFIO_CHECK_EXTENSION with
 * argument 6 as the TYPE1 cases do; every other command and value is the
 * reference's.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { VFIO_TYPE1_NESTING_IOMMU, __VFIO_RESERVED_TYPE1_NESTING_IOMMU } from '../../../spec/uapi/constants.ts';
import { mutantImplementation } from '../harness.ts';

export function createAdapter(profile: Profile): Implementation {
  const nesting = BigInt(profile === '6.12' ? VFIO_TYPE1_NESTING_IOMMU : __VFIO_RESERVED_TYPE1_NESTING_IOMMU);
  return mutantImplementation('compat-check-ext-type1-nesting', profile, {
    // THE FAULT: the nesting type falls into the TYPE1 / TYPE1v2 / UNMAP_ALL case.
    iommufdIoctl: (ctx, d, original) => (d.ok && d.kind === 'int' && d.command.name === 'VFIO_CHECK_EXTENSION' && d.arg === nesting ? (ctx.noIommuMode ? 0 : 1) : original()),
  });
}
