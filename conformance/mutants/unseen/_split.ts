/**
 * Shared by the faults in iopt_area_split (io_pagetable.c), the cut a type1
 * v1 unmap makes at each end of its range (iommufd_vfio_unmap_dma →
 * iopt_cut_iova): a copy of the reference's VFIO_IOMMU_UNMAP_DMA whose split
 * takes steps as parameters — whether it refuses an area a domain holds
 * (the kernel: `area->storage_domain && !iopt->disable_large_pages`),
 * whether the halves keep the area's storage domain (the kernel sets
 * lhs->storage_domain and rhs->storage_domain, re-holding a page they share)
 * and whether it checks the cut against the IOAS alignment.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation, type CompatDecode } from '../harness.ts';
import { EBUSY, EFAULT, EINVAL, ENODEV, ENOMEM } from '../../../impl/lib/errno.ts';
import { VFIO_DMA_UNMAP_FLAG_ALL } from '../../../spec/uapi/constants.ts';
import { commandMinSize } from '../../../spec/uapi/lookup.ts';
import { layoutOf, UcmdStruct } from '../../../impl/iommufd/ucmd.ts';
import { IoptArea, type IoPagetable, type IommufdCtx, type IommufdIoas } from '../../../impl/iommufd/iommufd_private.ts';
import { ioptAreaIterFirst, ioptAreaStartByte, ioptUnmapAll, ioptUnmapIova } from '../../../impl/iommufd/io_pagetable.ts';
import { ioptGetPagesRef, ioptPagesHold } from '../../../impl/iommufd/pages.ts';

/** get_compat_ioas */
function getCompatIoas(ctx: IommufdCtx): IommufdIoas | number {
  const ioas = ctx.vfioIoas;
  if (!ioas || ioas.type !== 'IOAS' || ctx.objects.load(ioas.id) !== ioas) return -ENODEV;
  return ioas as IommufdIoas;
}

/** The steps of iopt_area_split a fault may change; each one not given is the reference's. */
export interface SplitSteps {
  /** Whether the split refuses an area a domain holds, given the IOAS (the kernel's: large pages on). */
  readonly refusesFilled?: (iopt: IoPagetable) => boolean;
  /** Whether the halves keep the area's storage domain (the kernel's do). */
  readonly halvesKeepDomain?: boolean;
  /** Whether a cut off the IOAS alignment, in IOVA or in the pages, is refused (EINVAL; the kernel's is). */
  readonly checksAlignment?: boolean;
}

/** iopt_area_split over the given steps. */
function ioptAreaSplit(steps: SplitSteps, iopt: IoPagetable, area: IoptArea, iova: bigint): number {
  const alignment = BigInt(iopt.iovaAlignment);
  const newStart = iova + 1n;
  if (iova === area.start || iova === area.last) return 0;
  if (!area.pages || area.preventAccess) return -EBUSY;
  if (steps.checksAlignment !== false && (newStart & (alignment - 1n) || ioptAreaStartByte(area, newStart) & (alignment - 1n))) return -EINVAL;
  if (iopt.faults.shouldFail()) return -ENOMEM; // lhs
  if (iopt.faults.shouldFail()) return -ENOMEM; // rhs
  if (area.numAccesses) return -EINVAL;
  if (area.filled && (steps.refusesFilled ?? ((x: IoPagetable) => !x.disableLargePages))(iopt)) return -EINVAL;
  const lhs = new IoptArea(iopt, area.start, newStart - 1n, area.startByte, area.iommuProt);
  const rhs = new IoptArea(iopt, newStart, area.last, ioptAreaStartByte(area, newStart), area.iommuProt);
  lhs.pages = area.pages;
  rhs.pages = area.pages;
  ioptGetPagesRef(area.pages);
  if (area.filled && steps.halvesKeepDomain !== false) {
    lhs.filled = true;
    rhs.filled = true;
    if (lhs.lastIndex === rhs.firstIndex) {
      const held = ioptPagesHold(area.pages, rhs.firstIndex, rhs.firstIndex);
      if (held.errno) throw new Error('re-holding a pinned page cannot fail');
    }
  }
  const i = iopt.areas.indexOf(area);
  iopt.areas.splice(i, 1, lhs, rhs);
  return 0;
}

/** iopt_cut_iova over the faulty split. */
/** iopt_cut_iova */
function ioptCutIova(steps: SplitSteps, iopt: IoPagetable, iovas: readonly bigint[]): number {
  for (const iova of iovas) {
    const area = ioptAreaIterFirst(iopt, iova, iova);
    if (!area) continue;
    const rc = ioptAreaSplit(steps, iopt, area, iova);
    if (rc) return rc;
  }
  return 0;
}

/** iommufd_vfio_unmap_dma, as the reference's, over the faulty cut. */
/** iommufd_vfio_unmap_dma */
function vfioUnmapDma(steps: SplitSteps, ctx: IommufdCtx, d: CompatDecode, arg: bigint): number {
  const unmap = new UcmdStruct(layoutOf(d.command.struct ?? '', ctx.profile), d.bytes);
  const flags = unmap.num('flags');
  if (flags & ~VFIO_DMA_UNMAP_FLAG_ALL) return -EINVAL;
  const r = getCompatIoas(ctx);
  if (typeof r === 'number') return r;
  const iopt = r.iopt;
  const iova = unmap.big('iova');
  const size = unmap.big('size');
  const unmapped = { bytes: 0n };
  let rc: number;
  if (flags & VFIO_DMA_UNMAP_FLAG_ALL) {
    if (iova !== 0n || size !== 0n) return -EINVAL;
    rc = ioptUnmapAll(iopt, unmapped);
  } else {
    if (iopt.disableLargePages) {
      const iovas = [BigInt.asUintN(64, iova + size - 1n), BigInt.asUintN(64, iova - 1n)];
      rc = ioptCutIova(steps, iopt, iova ? iovas : iovas.slice(0, 1));
      if (rc) return rc;
    }
    rc = ioptUnmapIova(iopt, iova, size, unmapped);
  }
  unmap.set('size', unmapped.bytes);
  const minsz = commandMinSize(ctx.profile, d.command) ?? 0;
  if (!ctx.proc.copyToUser(arg, unmap.bytes.subarray(0, minsz))) rc = -EFAULT;
  return rc;
}

/** A mutant whose VFIO_IOMMU_UNMAP_DMA cuts with the given split; every other command is the reference's. */
export function splitMutant(name: string, profile: Profile, steps: SplitSteps): Implementation {
  return mutantImplementation(name, profile, {
    compat: { VFIO_IOMMU_UNMAP_DMA: (ctx, d, arg) => vfioUnmapDma(steps, ctx, d, arg) },
  });
}
