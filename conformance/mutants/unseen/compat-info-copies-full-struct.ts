/**
 * compat-info-copies-full-struct (drivers/iommu/iommufd/vfio_compat.c
 * iommufd_vfio_iommu_get_info, behind the type1 VFIO_IOMMU_GET_INFO on an
 * iommufd used as a VFIO container; 6.12 and 7.3 alike).
 *
 * struct vfio_iommu_type1_info grew cap_offset (and its pad) after the
 * pre-capability ABI; userspace built against the old header passes
 * argsz = offsetofend(iova_pgsizes) = 16 and owns only those 16 bytes. The
 * kernel answers with no more than the caller's argsz:
 *
 *     size_t minsz = offsetofend(struct vfio_iommu_type1_info, iova_pgsizes);
 *     ...
 *     if (copy_from_user(&info, arg, minsz))
 *             return -EFAULT;
 *     if (info.argsz < minsz)
 *             return -EINVAL;
 *     minsz = min_t(size_t, info.argsz, sizeof(info));
 *     ...
 *     info.argsz = total_cap_size;
 *     info.flags |= VFIO_IOMMU_INFO_CAPS;
 *     if (copy_to_user(arg, &info, minsz)) {
 *
 * THE FAULT: the final copy is `copy_to_user(arg, &info, sizeof(info))` — the
 * common VFIO idiom for a struct the kernel fully owns, written by someone who
 * forgets that argsz may be below sizeof(info) (the `minsz = min_t(...)` line
 * is dropped or the copy uses sizeof). With 16 <= argsz < 24 the kernel now
 * writes 24 bytes: cap_offset (0, since no capability fits) and the pad land
 * in the caller's memory past the struct it declared — an old binary's next
 * stack variable is zeroed, and when the struct sits at the end of a mapping
 * the whole call fails with EFAULT after its work. argsz >= sizeof(info) is
 * unchanged.
 *
 * Observable: VFIO_IOMMU_GET_INFO with argsz 16..23 overwrites the bytes
 * argsz..23 of the argument (cap_offset reads back 0 where the caller's own
 * value was), or fails EFAULT where they are not writable.
 *
 * Applied as: the reference's VFIO_IOMMU_GET_INFO, then (on success, argsz <
 * sizeof(info)) the whole struct — the bytes the reference wrote, cap_offset
 * and pad zero — copied to the argument again.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { EFAULT } from '../../../impl/lib/errno.ts';
import { layoutOf, UcmdStruct } from '../../../impl/iommufd/ucmd.ts';
import { mutantImplementation } from '../harness.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('compat-info-copies-full-struct', profile, {
    compat: {
      VFIO_IOMMU_GET_INFO: (ctx, d, arg, original) => {
        const rc = original();
        if (rc !== 0) return rc;
        const layout = layoutOf(d.command.struct ?? '', ctx.profile);
        const argsz = d.size;
        if (argsz >= layout.size) return rc;
        // What the kernel's info holds: the first argsz bytes as written, cap_offset = 0 (argsz < total), pad 0.
        const written = ctx.proc.copyFromUser(arg, argsz);
        if (!written) return rc;
        const info = new UcmdStruct(layout);
        info.bytes.set(written.subarray(0, argsz));
        info.set('cap_offset', 0);
        // THE FAULT: copy_to_user(arg, &info, sizeof(info)).
        if (!ctx.proc.copyToUser(arg, info.bytes)) return -EFAULT;
        return rc;
      },
    },
  });
}
