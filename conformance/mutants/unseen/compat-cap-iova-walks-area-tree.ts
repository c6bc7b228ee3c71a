/**
 * R23-C3 — compat-cap-iova-walks-area-tree (drivers/iommu/iommufd/vfio_compat.c
 * iommufd_fill_cap_iova, called by iommufd_vfio_iommu_get_info for
 * VFIO_IOMMU_GET_INFO on an iommufd used as a VFIO type1 container; 6.12 and
 * 7.3 alike).
 *
 * The type1 IOVA-range capability tells a VMM which IOVA it may use at all:
 * the holes of the compat IOAS's reserved tree — what every attached
 * device's reserved regions (the MSI window, RMRR-like ranges, the AMD
 * HyperTransport hole), every domain's aperture limits and the test
 * reservations take away. QEMU reads it once its container has a device and
 * checks the guest's RAM layout against it:
 *
 *     interval_tree_for_each_span(&span, &ioas->iopt.reserved_itree, 0,
 *                                 ULONG_MAX) {
 *             struct vfio_iova_range range;
 *
 *             if (!span.is_hole)
 *                     continue;
 *             range.start = span.start_hole;
 *             range.end = span.last_hole;
 *             ...
 *
 * THE FAULT: the iterator walks the IOAS's area tree — the span loop copied
 * from the IOVA allocator's, which walks areas and reservations together —
 * with only the tree argument left behind:
 *
 *     interval_tree_for_each_span(&span, &ioas->iopt.area_itree, 0,
 *                                 ULONG_MAX) {
 *
 * Nothing shows while the container is empty: both trees are empty and the
 * capability reports the whole 0..2^64-1. It shows after other commands on
 * other objects: once a device is attached to the compat IOAS (its reserved
 * regions and its domain's aperture enter the reserved tree) the capability
 * still reports the MSI doorbell window, the HT hole and the IOVA beyond the
 * domain's address width as usable; and once something is mapped
 * (VFIO_IOMMU_MAP_DMA, IOMMU_IOAS_MAP) the mapped ranges are reported as
 * unusable. A VMM places guest RAM over the MSI window (and its MAP_DMA then
 * fails) or refuses a memory layout that is valid; the VFIO_IOMMU_GET_INFO
 * answer disagrees with IOMMU_IOAS_IOVA_RANGES of the same IOAS.
 *
 * Applied as: VFIO_IOMMU_GET_INFO is a copy of the reference's
 * iommufd_vfio_iommu_get_info whose IOVA-range capability is made from the
 * holes of the compat IOAS's areas instead of its reserved ranges;
 * everything else (flags, page sizes, DMA_AVAIL, the capability chain and
 * argsz) is the reference's.
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
import { holes, usedSpans } from '../../../impl/iommufd/io_pagetable.ts';
import { mutantImplementation, type CompatDecode } from '../harness.ts';

/** vfio_compat.c: `.version = 1` of every capability header. */
const VFIO_CAP_VERSION = 1;
/** iommufd_fill_cap_dma_avail: U32_MAX. */
const DMA_AVAIL_UNLIMITED = 0xffffffff;

/** get_compat_ioas */
function compatIoas(ctx: IommufdCtx): IommufdIoas | undefined {
  const ioas = ctx.vfioIoas;
  if (!ioas || ioas.type !== 'IOAS' || ctx.objects.load(ioas.id) !== ioas) return undefined;
  return ioas as IommufdIoas;
}

/** iommufd_get_pagesizes (the reference's). */
function pagesizes(ioas: IommufdIoas): bigint {
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

/** iommufd_fill_cap_dma_avail (the reference's). */
function fillCapDmaAvail(ctx: IommufdCtx): FillCap {
  return (at, avail) => {
    const cap = encodeStruct(ctx.profile, 'vfio_iommu_type1_info_dma_avail', {
      header: { id: VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL, version: VFIO_CAP_VERSION },
      avail: DMA_AVAIL_UNLIMITED,
    });
    if (at !== null && avail >= cap.length && !ctx.proc.copyToUser(at, cap)) return -EFAULT;
    return cap.length;
  };
}

/** iommufd_fill_cap_iova with THE FAULT: the spans of the area tree, not of the reserved tree. */
function fillCapIova(ctx: IommufdCtx, ioas: IommufdIoas): FillCap {
  return (at, avail) => {
    const head = requireLayout(ctx.profile, 'vfio_iommu_type1_info_cap_iova_range');
    const rangeSize = requireLayout(ctx.profile, 'vfio_iova_range').size;
    const rangesAt = head.rows.find((r) => r.path === 'iova_ranges')!.offset;
    const structSize = (n: number): number => Math.max(head.size, rangesAt + rangeSize * n);
    const spans = holes(usedSpans([ioas.iopt.areas]), 0n, ULONG_MAX); // THE FAULT: &iopt->area_itree
    for (let i = 0; i < spans.length; i++) {
      if (at === null || avail < structSize(i + 1)) continue;
      const range = encodeStruct(ctx.profile, 'vfio_iova_range', { start: spans[i]!.start, end: spans[i]!.last });
      if (!ctx.proc.copyToUser(at + BigInt(rangesAt + rangeSize * i), range)) return -EFAULT;
    }
    if (at !== null && avail >= structSize(spans.length)) {
      const cap = encodeStruct(ctx.profile, 'vfio_iommu_type1_info_cap_iova_range', {
        header: { id: VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE, version: VFIO_CAP_VERSION },
        nr_iovas: spans.length,
      });
      if (!ctx.proc.copyToUser(at, cap)) return -EFAULT;
    }
    return structSize(spans.length);
  };
}

/** iommufd_vfio_iommu_get_info (the reference's, over the faulty IOVA-range capability). */
function getInfo(ctx: IommufdCtx, d: CompatDecode, arg: bigint): number {
  const infoSize = layoutOf(d.command.struct ?? '', ctx.profile).size;
  const argsz = d.size;
  const minsz = Math.min(argsz, infoSize);
  const ioas = compatIoas(ctx);
  if (!ioas) return -ENODEV;
  const info = { argsz, flags: VFIO_IOMMU_INFO_PGSIZES, iova_pgsizes: pagesizes(ioas), cap_offset: 0 };
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
  return mutantImplementation('compat-cap-iova-walks-area-tree', profile, {
    compat: { VFIO_IOMMU_GET_INFO: (ctx, d, arg) => getInfo(ctx, d, arg) },
  });
}
