/**
 * compat-cap-iova-range-bound-short (drivers/iommu/iommufd/vfio_compat.c,
 * iommufd_fill_cap_iova, reached from iommufd_vfio_iommu_get_info).
 *
 * VFIO_IOMMU_GET_INFO on an iommufd-served container appends the
 * VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE capability when argsz leaves room. Its
 * ranges go out one by one, each only when the space the user gave covers it
 * (6.12 and 7.3 alike):
 *
 *     interval_tree_for_each_span(&span, &ioas->iopt.reserved_itree, 0,
 *                                 ULONG_MAX) {
 *             ...
 *             if (avail >= struct_size(&cap_iovas, iova_ranges,
 *                                      cap_iovas.nr_iovas + 1) &&
 *                 copy_to_user(&ucap_iovas->iova_ranges[cap_iovas.nr_iovas],
 *                              &range, sizeof(range)))
 *                     return -EFAULT;
 *             cap_iovas.nr_iovas++;
 *     }
 *
 * The fault is the classic off-by-one of that bound: the room test is made
 * with `struct_size(&cap_iovas, iova_ranges, cap_iovas.nr_iovas)` (the size
 * *before* this range) instead of `nr_iovas + 1` (the size including it). When
 * argsz ends inside the IOVA-range capability, the range that straddles the
 * end of the user's buffer is still copied: 16 bytes written past argsz (the
 * capability header itself is still held back, its own test is unchanged).
 *
 * Observable: a GET_INFO whose argsz covers the info struct, the DMA_AVAIL
 * capability and part of the IOVA-range capability (e.g. argsz = 56 with one
 * or more IOVA holes) writes bytes of the caller's memory beyond argsz — the
 * kernel never touches memory past argsz. A VMM that sizes its buffer from a
 * first probe is not hit; one that passes a fixed, too small buffer inside a
 * larger allocation (or at the end of a mapping: EFAULT instead of success)
 * is.
 *
 * Applied as: VFIO_IOMMU_GET_INFO on an iommufd file is a copy of
 * iommufd_vfio_iommu_get_info with that bound.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { EFAULT, ENODEV } from '../../../impl/lib/errno.ts';
import {
  VFIO_IOMMU_INFO_CAPS,
  VFIO_IOMMU_INFO_PGSIZES,
  VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE,
  VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL,
} from '../../../spec/uapi/constants.ts';
import { requireLayout } from '../../../spec/uapi/layout.ts';
import { encodeStruct } from '../../../spec/abi/codec.ts';
import { layoutOf } from '../../../impl/iommufd/ucmd.ts';
import { type IommufdCtx, type IommufdIoas, PAGE_SIZE, ULONG_MAX } from '../../../impl/iommufd/iommufd_private.ts';
import { ioptIovaRanges } from '../../../impl/iommufd/io_pagetable.ts';
import { mutantImplementation, type CompatDecode } from '../harness.ts';

/** get_compat_ioas */
function getCompatIoas(ctx: IommufdCtx): IommufdIoas | null {
  const ioas = ctx.vfioIoas;
  if (!ioas || ioas.type !== 'IOAS' || ctx.objects.load(ioas.id) !== ioas) return null;
  return ioas as IommufdIoas;
}

/** iommufd_get_pagesizes */
function getPagesizes(ioas: IommufdIoas): bigint {
  let bitmap = ULONG_MAX;
  for (const d of ioas.iopt.domains) bitmap &= d.pgsizeBitmap;
  const P = BigInt(PAGE_SIZE);
  if (bitmap & (P - 1n)) {
    bitmap &= ~(P - 1n) & ULONG_MAX;
    bitmap |= P;
  }
  const align = BigInt(ioas.iopt.iovaAlignment);
  return bitmap > align ? bitmap : align;
}

type FillCap = (at: bigint | null, avail: number) => number;

/** iommufd_fill_cap_dma_avail */
function fillCapDmaAvail(ctx: IommufdCtx): FillCap {
  return (at, avail) => {
    const cap = encodeStruct(ctx.profile, 'vfio_iommu_type1_info_dma_avail', { header: { id: VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL, version: 1 }, avail: 0xffffffff });
    if (at !== null && avail >= cap.length && !ctx.proc.copyToUser(at, cap)) return -EFAULT;
    return cap.length;
  };
}

/** iommufd_fill_cap_iova, with the fault in the per-range bound. */
function fillCapIova(ctx: IommufdCtx, ioas: IommufdIoas): FillCap {
  return (at, avail) => {
    const head = requireLayout(ctx.profile, 'vfio_iommu_type1_info_cap_iova_range');
    const rangeSize = requireLayout(ctx.profile, 'vfio_iova_range').size;
    const rangesAt = head.rows.find((r) => r.path === 'iova_ranges')!.offset;
    const structSize = (n: number): number => Math.max(head.size, rangesAt + rangeSize * n);
    const holes = ioptIovaRanges(ioas.iopt);
    for (let i = 0; i < holes.length; i++) {
      // THE FAULT: struct_size(..., nr_iovas) instead of struct_size(..., nr_iovas + 1).
      if (at === null || avail < structSize(i)) continue;
      const range = encodeStruct(ctx.profile, 'vfio_iova_range', { start: holes[i]!.start, end: holes[i]!.last });
      if (!ctx.proc.copyToUser(at + BigInt(rangesAt + rangeSize * i), range)) return -EFAULT;
    }
    if (at !== null && avail >= structSize(holes.length)) {
      const cap = encodeStruct(ctx.profile, 'vfio_iommu_type1_info_cap_iova_range', {
        header: { id: VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE, version: 1 },
        nr_iovas: holes.length,
      });
      if (!ctx.proc.copyToUser(at, cap)) return -EFAULT;
    }
    return structSize(holes.length);
  };
}

/** iommufd_vfio_iommu_get_info (argsz >= minsz was checked by the decode). */
function iommuGetInfo(ctx: IommufdCtx, d: CompatDecode, arg: bigint): number {
  const infoSize = layoutOf(d.command.struct ?? '', ctx.profile).size;
  const argsz = d.size;
  const minsz = Math.min(argsz, infoSize);
  const ioas = getCompatIoas(ctx);
  if (!ioas) return -ENODEV;
  const info = { argsz, flags: VFIO_IOMMU_INFO_PGSIZES, iova_pgsizes: getPagesizes(ioas), cap_offset: 0 };
  const next = requireLayout(ctx.profile, 'vfio_info_cap_header').rows.find((row) => row.path === 'next')!;
  let total = infoSize;
  let lastCap: bigint | null = null;
  for (const fill of [fillCapDmaAvail(ctx), fillCapIova(ctx, ioas)]) {
    let capSize = argsz > total ? fill(arg + BigInt(total), argsz - total) : fill(null, 0);
    if (capSize < 0) return capSize;
    capSize = Math.ceil(capSize / 8) * 8;
    if (lastCap !== null && argsz >= total) {
      const bytes = encodeStruct(ctx.profile, 'vfio_info_cap_header', { next: total }).subarray(next.offset, next.offset + next.size);
      if (!ctx.proc.copyToUser(lastCap + BigInt(next.offset), bytes)) return -EFAULT;
    }
    lastCap = arg + BigInt(total);
    total += capSize;
  }
  if (argsz >= total) info.cap_offset = infoSize;
  info.argsz = total;
  info.flags |= VFIO_IOMMU_INFO_CAPS;
  if (!ctx.proc.copyToUser(arg, encodeStruct(ctx.profile, 'vfio_iommu_type1_info', info).subarray(0, minsz))) return -EFAULT;
  return 0;
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('compat-cap-iova-range-bound-short', profile, {
    compat: {
      VFIO_IOMMU_GET_INFO: (ctx, d, arg) => iommuGetInfo(ctx, d, arg),
    },
  });
}
