/**
 * R34-C1 — compat-info-cap-offset-without-room (drivers/iommu/iommufd/vfio_compat.c
 * iommufd_vfio_iommu_get_info, VFIO_IOMMU_GET_INFO; the same code in 6.12 and 7.3).
 *
 * After the capability chain is built, the kernel points cap_offset at the
 * chain only when the user's argsz held all of it:
 *
 *     if (info.argsz >= total_cap_size)
 *             info.cap_offset = sizeof(info);
 *     info.argsz = total_cap_size;
 *     info.flags |= VFIO_IOMMU_INFO_CAPS;
 *     if (copy_to_user(arg, &info, minsz))
 *
 * THE FAULT: the test compares argsz with the fixed struct instead of the
 * chain ("the user has room for cap_offset"):
 *
 *     if (info.argsz >= sizeof(info))
 *             info.cap_offset = sizeof(info);
 *
 * Plausible: sizeof(info) is the other size the function juggles (minsz is
 * min(argsz, sizeof(info)) two lines above), and the two agree when argsz is
 * large enough, which is what every well-behaved caller passes the second time.
 *
 * Observable: a VFIO_IOMMU_GET_INFO whose argsz covers the struct (e.g.
 * exactly sizeof(struct vfio_iommu_type1_info), the usual first probe) but
 * not the capabilities answers cap_offset = sizeof(info) although no
 * capability (or only part of the chain) was written: a VMM walking the
 * chain reads its own uninitialised memory past the struct as capability
 * headers (and follows their `next`), instead of re-calling with argsz.
 *
 * Applied as: after the reference's GET_INFO answered 0, when argsz >=
 * sizeof(info) and the reference left cap_offset 0, cap_offset is rewritten
 * to sizeof(info) in the user's struct.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { requireLayout } from '../../../spec/uapi/layout.ts';
import { EFAULT } from '../../../impl/lib/errno.ts';
import { mutantImplementation } from '../harness.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('compat-info-cap-offset-without-room', profile, {
    compat: {
      VFIO_IOMMU_GET_INFO: (ctx, d, arg, original) => {
        const rc = original();
        if (rc) return rc;
        const layout = requireLayout(ctx.profile, 'vfio_iommu_type1_info');
        const row = layout.rows.find((r) => r.path === 'cap_offset')!;
        if (d.size < layout.size) return rc; // cap_offset beyond minsz: not copied either way
        const cur = ctx.proc.copyFromUser(arg + BigInt(row.offset), row.size);
        if (!cur) return -EFAULT;
        if (cur.some((b) => b !== 0)) return rc; // the chain fitted: the kernel set it too
        const bytes = new Uint8Array(row.size);
        new DataView(bytes.buffer).setUint32(0, layout.size, true); // if (info.argsz >= sizeof(info))
        if (!ctx.proc.copyToUser(arg + BigInt(row.offset), bytes)) return -EFAULT;
        return rc;
      },
    },
  });
}
