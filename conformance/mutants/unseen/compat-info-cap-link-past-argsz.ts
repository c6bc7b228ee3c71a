/**
 * compat-info-cap-link-past-argsz (drivers/iommu/iommufd/vfio_compat.c,
 * iommufd_vfio_iommu_get_info).
 *
 * VFIO_IOMMU_GET_INFO on an iommufd-served container walks its two capability
 * writers (DMA_AVAIL, then IOVA_RANGE) and chains each capability to the
 * next through the previous header's `next`. That link is only written while
 * it lies inside the space the caller gave (6.12 and 7.3 alike):
 *
 *     for (i = 0; i != ARRAY_SIZE(fill_fns); i++) {
 *             ...
 *             cap_size = ALIGN(cap_size, sizeof(u64));
 *
 *             if (last_cap && info.argsz >= total_cap_size &&
 *                 put_user(total_cap_size, &last_cap->next)) {
 *                     rc = -EFAULT;
 *                     goto out_put;
 *             }
 *             last_cap = arg + total_cap_size;
 *             total_cap_size += cap_size;
 *     }
 *
 * The fault drops `info.argsz >= total_cap_size` from that test (the fill
 * functions are told how much room there is and hold back on their own, so
 * the link "obviously" needs no test of its own). With a small argsz — the
 * usual first probe, argsz = sizeof(struct vfio_iommu_type1_info), or the
 * selftest's argsz = offsetof(cap_offset) — the DMA_AVAIL capability is not
 * written, yet its `next` field (user address arg + sizeof(info) + 4) is
 * written with the chain offset sizeof(info) + 16: four bytes of the caller's
 * memory beyond argsz that the kernel never touches. When that memory is not
 * writable (the struct at the end of a mapping, a read-only neighbour) the
 * call fails EFAULT instead of succeeding.
 *
 * Observable: GET_INFO with argsz < sizeof(info) + 16 (a compat IOAS set)
 * changes bytes 28..31 of the argument buffer past argsz (a struct argument
 * with a tail shows them), or answers EFAULT.
 *
 * Applied as: before the reference's GET_INFO, when a compat IOAS exists and
 * argsz < sizeof(info) + ALIGN(sizeof(dma_avail cap), 8), the link is written
 * (EFAULT if it faults); the reference then writes what the kernel writes,
 * none of which overlaps the link.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { EFAULT } from '../../../impl/lib/errno.ts';
import { requireLayout } from '../../../spec/uapi/layout.ts';
import { encodeStruct } from '../../../spec/abi/codec.ts';
import { layoutOf } from '../../../impl/iommufd/ucmd.ts';
import { iommufdVfioCompatIoasGetId } from '../../../impl/iommufd/vfio_compat.ts';
import { mutantImplementation } from '../harness.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('compat-info-cap-link-past-argsz', profile, {
    compat: {
      VFIO_IOMMU_GET_INFO: (ctx, d, arg, original) => {
        // get_compat_ioas comes first: no compat IOAS, no capability loop.
        if (iommufdVfioCompatIoasGetId(ctx).errno) return original();
        const infoSize = layoutOf(d.command.struct ?? '', ctx.profile).size;
        const dmaCapSize = Math.ceil(requireLayout(ctx.profile, 'vfio_iommu_type1_info_dma_avail').size / 8) * 8;
        // total_cap_size when the IOVA-range writer's turn comes: the link to it is the first one written.
        const total = infoSize + dmaCapSize;
        if (d.size >= total) return original(); // the kernel writes this link too (inside argsz)
        // THE FAULT: put_user(total_cap_size, &last_cap->next) without `info.argsz >= total_cap_size`.
        const next = requireLayout(ctx.profile, 'vfio_info_cap_header').rows.find((row) => row.path === 'next')!;
        const bytes = encodeStruct(ctx.profile, 'vfio_info_cap_header', { next: total }).subarray(next.offset, next.offset + next.size);
        if (!ctx.proc.copyToUser(arg + BigInt(infoSize + next.offset), bytes)) return -EFAULT;
        return original();
      },
    },
  });
}
