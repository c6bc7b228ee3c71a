/**
 * Fault K6 (VFIO type1 compat, ABI): iommufd_vfio_map_dma drops the
 * `map.flags & ~supported_flags → -EINVAL` half of its argsz/flags test:
 * VFIO_IOMMU_MAP_DMA with flags iommufd does not support (type1's
 * VFIO_DMA_MAP_FLAG_VADDR, or any unknown bit) is executed as a plain map.
 *
 * Consequence: a type1 "update the vaddr of an existing mapping"
 * (VFIO_DMA_MAP_FLAG_VADDR, QEMU's CPR live update) of a range that is not
 * mapped creates a brand-new mapping instead of failing EINVAL; unknown flag
 * bits are silently ignored, so they can never be given a meaning.
 *
 * Bug class: an unknown-flags check missing in a compat ioctl (the
 * VFIO/iommufd "reject unsupported flags" fixes).
 *
 * Applied as: a decoded VFIO_IOMMU_MAP_DMA reaches the reference's compat
 * handler with the unsupported bits cleared (the harness's `compat` hook).
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { VFIO_DMA_MAP_FLAG_READ, VFIO_DMA_MAP_FLAG_WRITE } from '../../../spec/uapi/constants.ts';
import { iommufdVfioIoctl } from '../../../impl/iommufd/vfio_compat.ts';
import { layoutOf } from '../../../impl/iommufd/ucmd.ts';
import { getU32, setU32 } from '../../../spec/abi/le.ts';
import { mutantImplementation } from '../harness.ts';

const SUPPORTED = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE;

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('compat-map-dma-flags-unchecked', profile, {
    compat: {
      VFIO_IOMMU_MAP_DMA: (ctx, d, arg, original) => {
        const off = layoutOf(d.command.struct ?? '', ctx.profile).fields.get('flags')!.offset;
        const flags = getU32(d.bytes, off);
        if (!(flags & ~SUPPORTED)) return original();
        const bytes = d.bytes.slice();
        setU32(bytes, off, flags & SUPPORTED); // the fault: the unsupported bits are never looked at
        return iommufdVfioIoctl(ctx, { ...d, bytes }, arg);
      },
    },
  });
}
