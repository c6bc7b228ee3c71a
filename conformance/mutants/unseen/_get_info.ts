/**
 * One copy of iommufd_vfio_iommu_get_info (drivers/iommu/iommufd/vfio_compat.c)
 * for the faults in its IOVA-range capability (iommufd_fill_cap_iova): which
 * ranges it lists and how much room a range needs before it is copied are
 * steps; the page sizes, the DMA_AVAIL capability, the chain and argsz are the
 * kernel's.
 */
import { EFAULT, ENODEV } from '../../../impl/lib/errno.ts';
import { VFIO_IOMMU_INFO_CAPS, VFIO_IOMMU_INFO_PGSIZES, VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE, VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL } from '../../../spec/uapi/constants.ts';
import { requireLayout } from '../../../spec/uapi/layout.ts';
import { encodeStruct } from '../../../spec/abi/codec.ts';
import { layoutOf } from '../../../impl/iommufd/ucmd.ts';
import { type IommufdCtx, type IommufdIoas, PAGE_SIZE, ULONG_MAX } from '../../../impl/iommufd/iommufd_private.ts';
import { ioptIovaRanges } from '../../../impl/iommufd/io_pagetable.ts';
import type { CompatDecode } from '../harness.ts';

/** vfio_compat.c: `.version = 1` of every capability header. */
const VFIO_CAP_VERSION = 1;
/** iommufd_fill_cap_dma_avail: U32_MAX. */
const DMA_AVAIL_UNLIMITED = 0xffffffff;

export interface CapIovaSteps {
  /** The ranges the capability lists: the kernel's are the holes of the reserved tree. */
  readonly ranges: (ioas: IommufdIoas) => readonly { readonly start: bigint; readonly last: bigint }[];
  /** How many ranges the room must hold before range i is copied: the kernel's struct_size(..., nr_iovas + 1). */
  readonly roomFor: (i: number) => number;
}

/** What the kernel does. */
export const KERNEL_CAP_IOVA: CapIovaSteps = { ranges: (ioas) => ioptIovaRanges(ioas.iopt), roomFor: (i) => i + 1 };

type FillCap = (at: bigint | null, avail: number) => number;

/** get_compat_ioas */
function compatIoas(ctx: IommufdCtx): IommufdIoas | undefined {
  const ioas = ctx.vfioIoas;
  if (!ioas || ioas.type !== 'IOAS' || ctx.objects.load(ioas.id) !== ioas) return undefined;
  return ioas as IommufdIoas;
}

/** iommufd_get_pagesizes */
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

/** iommufd_fill_cap_dma_avail */
function fillCapDmaAvail(ctx: IommufdCtx): FillCap {
  return (at, avail) => {
    const cap = encodeStruct(ctx.profile, 'vfio_iommu_type1_info_dma_avail', { header: { id: VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL, version: VFIO_CAP_VERSION }, avail: DMA_AVAIL_UNLIMITED });
    if (at !== null && avail >= cap.length && !ctx.proc.copyToUser(at, cap)) return -EFAULT;
    return cap.length;
  };
}

/** iommufd_fill_cap_iova, its ranges and room test as steps. */
function fillCapIova(ctx: IommufdCtx, ioas: IommufdIoas, steps: CapIovaSteps): FillCap {
  return (at, avail) => {
    const head = requireLayout(ctx.profile, 'vfio_iommu_type1_info_cap_iova_range');
    const rangeSize = requireLayout(ctx.profile, 'vfio_iova_range').size;
    const rangesAt = head.rows.find((r) => r.path === 'iova_ranges')!.offset;
    const structSize = (n: number): number => Math.max(head.size, rangesAt + rangeSize * n);
    const ranges = steps.ranges(ioas);
    for (let i = 0; i < ranges.length; i++) {
      if (at === null || avail < structSize(steps.roomFor(i))) continue;
      const range = encodeStruct(ctx.profile, 'vfio_iova_range', { start: ranges[i]!.start, end: ranges[i]!.last });
      if (!ctx.proc.copyToUser(at + BigInt(rangesAt + rangeSize * i), range)) return -EFAULT;
    }
    if (at !== null && avail >= structSize(ranges.length)) {
      const cap = encodeStruct(ctx.profile, 'vfio_iommu_type1_info_cap_iova_range', { header: { id: VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE, version: VFIO_CAP_VERSION }, nr_iovas: ranges.length });
      if (!ctx.proc.copyToUser(at, cap)) return -EFAULT;
    }
    return structSize(ranges.length);
  };
}

/** iommufd_vfio_iommu_get_info (argsz >= minsz was checked by the decode), over the IOVA-range capability's steps. */
export function iommuGetInfoWith(ctx: IommufdCtx, d: CompatDecode, arg: bigint, steps: CapIovaSteps): number {
  const infoSize = layoutOf(d.command.struct ?? '', ctx.profile).size;
  const argsz = d.size;
  const minsz = Math.min(argsz, infoSize);
  const ioas = compatIoas(ctx);
  if (!ioas) return -ENODEV;
  const info = { argsz, flags: VFIO_IOMMU_INFO_PGSIZES, iova_pgsizes: pagesizes(ioas), cap_offset: 0 };
  const next = requireLayout(ctx.profile, 'vfio_info_cap_header').rows.find((row) => row.path === 'next')!;
  let total = infoSize;
  let lastCap: bigint | null = null;
  for (const fill of [fillCapDmaAvail(ctx), fillCapIova(ctx, ioas, steps)]) {
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
