/**
 * compat-info-caps-flag-only-with-room (drivers/iommu/iommufd/vfio_compat.c
 * iommufd_vfio_iommu_get_info).
 *
 * VFIO_IOMMU_GET_INFO always sets VFIO_IOMMU_INFO_CAPS, and always reports
 * the size the capabilities need in argsz, so that a caller whose argsz was
 * too small learns there are capabilities and retries with a larger buffer
 * (the vfio argsz protocol); only cap_offset depends on the room given:
 *
 *     if (info.argsz >= total_cap_size)
 *             info.cap_offset = sizeof(info);
 *     info.argsz = total_cap_size;
 *     info.flags |= VFIO_IOMMU_INFO_CAPS;
 *
 * The fault: the flag is set inside the `if` with cap_offset,
 *
 *     if (info.argsz >= total_cap_size) {
 *             info.cap_offset = sizeof(info);
 *             info.flags |= VFIO_IOMMU_INFO_CAPS;
 *     }
 *
 * A user sees a GET_INFO with argsz = sizeof(struct vfio_iommu_type1_info)
 * (QEMU's first probe) answer flags = VFIO_IOMMU_INFO_PGSIZES only: the
 * caller concludes there are no capabilities (no IOVA ranges, no DMA_AVAIL)
 * and never retries, so it maps into reserved holes it was never told about.
 * Both profiles.
 *
 * Applied as: after the reference's GET_INFO succeeded with an argsz smaller
 * than the argsz it reported back, VFIO_IOMMU_INFO_CAPS is cleared from the
 * flags it wrote.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { VFIO_IOMMU_INFO_CAPS } from '../../../spec/uapi/constants.ts';
import { requireLayout } from '../../../spec/uapi/layout.ts';
import { mutantImplementation } from '../harness.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('compat-info-caps-flag-only-with-room', profile, {
    compat: {
      VFIO_IOMMU_GET_INFO: (ctx, d, arg, original) => {
        const rc = original();
        if (rc !== 0) return rc;
        const layout = requireLayout(ctx.profile, 'vfio_iommu_type1_info');
        const row = (p: string) => layout.rows.find((r) => r.path === p)!;
        const argszRow = row('argsz');
        const flagsRow = row('flags');
        const head = ctx.proc.copyFromUser(arg, flagsRow.offset + flagsRow.size);
        if (!head) return rc;
        const dv = new DataView(head.buffer, head.byteOffset, head.byteLength);
        const total = dv.getUint32(argszRow.offset, true);
        if (d.size >= total) return rc;
        // THE FAULT: VFIO_IOMMU_INFO_CAPS only when the capabilities fit.
        const flags = dv.getUint32(flagsRow.offset, true) & ~VFIO_IOMMU_INFO_CAPS;
        const out = new Uint8Array(flagsRow.size);
        new DataView(out.buffer).setUint32(0, flags >>> 0, true);
        ctx.proc.copyToUser(arg + BigInt(flagsRow.offset), out);
        return rc;
      },
    },
  });
}
