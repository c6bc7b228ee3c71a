/**
 * compat-info-argsz-kept-when-roomy (drivers/iommu/iommufd/vfio_compat.c,
 * iommufd_vfio_iommu_get_info).
 *
 * VFIO_IOMMU_GET_INFO on an iommufd-served container answers, in `argsz`, the
 * exact size of struct vfio_iommu_type1_info plus every capability (DMA_AVAIL
 * and the IOVA_RANGE list), whatever the caller passed (6.12 and 7.3 alike):
 *
 *     if (info.argsz >= total_cap_size)
 *             info.cap_offset = sizeof(info);
 *     info.argsz = total_cap_size;
 *     info.flags |= VFIO_IOMMU_INFO_CAPS;
 *     if (copy_to_user(arg, &info, minsz)) {
 *
 * The fault writes the type1 driver's rule instead (vfio_iommu_type1.c only
 * raises argsz when the capabilities did not fit, and otherwise leaves the
 * caller's value), as a port from vfio_iommu_type1_get_info would:
 *
 *     if (info.argsz < total_cap_size)
 *             info.argsz = total_cap_size;
 *
 * So a caller that gave more room than needed (a page-sized buffer, the usual
 * "big enough" first call) gets its own argsz back instead of the size the
 * capability chain actually takes. Nothing else changes: the capabilities,
 * cap_offset, flags and page sizes are written as before.
 *
 * Observable: with a compat IOAS set, GET_INFO with argsz larger than
 * sizeof(info) + the capabilities' size answers argsz = the caller's value
 * (the kernel: the exact total, e.g. 24 + 16 + 16 + 16 * nr_iovas); a caller
 * that sizes its next buffer, or walks the IOVA ranges bounded by argsz, reads
 * past what the kernel wrote.
 *
 * Applied as: the reference's GET_INFO, then, on success with argsz above the
 * total it wrote back, the caller's argsz written over it.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { iommufdVfioCompatIoasGetId } from '../../../impl/iommufd/vfio_compat.ts';
import { mutantImplementation } from '../harness.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('compat-info-argsz-kept-when-roomy', profile, {
    compat: {
      VFIO_IOMMU_GET_INFO: (ctx, d, arg, original) => {
        const rc = original();
        if (rc || iommufdVfioCompatIoasGetId(ctx).errno) return rc;
        // argsz is the first u32 of struct vfio_iommu_type1_info; minsz >= 16, so the reference wrote it.
        const written = ctx.proc.copyFromUser(arg, 4);
        if (!written) return rc;
        const total = new DataView(written.buffer, written.byteOffset, 4).getUint32(0, true);
        if (d.size <= total) return rc;
        // THE FAULT: `if (info.argsz < total_cap_size) info.argsz = total_cap_size;` keeps the caller's larger argsz.
        const out = new Uint8Array(4);
        new DataView(out.buffer).setUint32(0, d.size >>> 0, true);
        ctx.proc.copyToUser(arg, out);
        return rc;
      },
    },
  });
}
