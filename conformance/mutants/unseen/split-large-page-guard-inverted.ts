/**
 * split-large-page-guard-inverted (drivers/iommu/iommufd/io_pagetable.c
 * iopt_area_split, reached from iommufd_vfio_unmap_dma → iopt_cut_iova on
 * a VFIO type1 (v1) container).
 *
 * VFIO type1 v1 lets user space unmap part of a mapping. iommufd emulates it
 * by disabling large pages on the compat IOAS (VFIO_SET_IOMMU(VFIO_TYPE1_IOMMU)
 * → iopt_disable_large_pages), so that every domain holds the IOAS's areas in
 * PAGE_SIZE IOPTEs, and VFIO_IOMMU_UNMAP_DMA first cuts the areas at both
 * ends of the range (iopt_cut_iova → iopt_area_split) before unmapping the
 * whole areas inside it. The split must refuse only an area a domain could
 * hold with large IOPTEs, i.e. one that is in a domain while large pages are
 * enabled:
 *
 *     /*
 *      * Splitting is not permitted if a domain could have been mapped with
 *      * huge pages.
 *      *\/
 *     if (area->storage_domain && !iopt->disable_large_pages) {
 *             rc = -EINVAL;
 *             goto err_unlock;
 *     }
 *
 * The fault loses the negation — a double negative ("disable" … "not
 * permitted") read the other way round:
 *
 *     if (area->storage_domain && iopt->disable_large_pages) {
 *
 * The caller only cuts when disable_large_pages is set, so the test now
 * refuses exactly the areas the emulation exists for: every area that is in
 * a domain.
 *
 * Nothing changes for a v1 container without devices, for unmaps of whole
 * mappings, or for type1v2. Once a device is attached to the compat IOAS (its
 * domain filled every area), every VFIO_IOMMU_UNMAP_DMA that starts or ends
 * inside a mapping fails with EINVAL and leaves the mapping in place (the
 * first cut already fails, or the second does after the first cut an area
 * that is then never unmapped): the user's memory stays mapped and pinned
 * for the device although VFIO type1 v1 promises the hole, and a v1 user
 * space (a VMM that balloons guest memory out page by page) cannot give
 * memory back — the range stays DMA-reachable until the whole mapping goes.
 *
 * Applied as: VFIO_IOMMU_UNMAP_DMA on the iommufd through a copy of the
 * reference's iommufd_vfio_unmap_dma whose iopt_area_split has the guard
 * inverted.
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

/** iopt_area_split (as the reference's) with the large-page guard inverted. */
function ioptAreaSplitFaulty(iopt: IoPagetable, area: IoptArea, iova: bigint): number {
  const alignment = BigInt(iopt.iovaAlignment);
  const newStart = iova + 1n;
  if (iova === area.start || iova === area.last) return 0;
  if (!area.pages || area.preventAccess) return -EBUSY;
  if (newStart & (alignment - 1n) || ioptAreaStartByte(area, newStart) & (alignment - 1n)) return -EINVAL;
  if (iopt.faults.shouldFail()) return -ENOMEM; // lhs
  if (iopt.faults.shouldFail()) return -ENOMEM; // rhs
  if (area.numAccesses) return -EINVAL;
  // THE FAULT: `area->storage_domain && !iopt->disable_large_pages` lost its negation.
  if (area.filled && iopt.disableLargePages) return -EINVAL;
  const lhs = new IoptArea(iopt, area.start, newStart - 1n, area.startByte, area.iommuProt);
  const rhs = new IoptArea(iopt, newStart, area.last, ioptAreaStartByte(area, newStart), area.iommuProt);
  lhs.pages = area.pages;
  rhs.pages = area.pages;
  ioptGetPagesRef(area.pages);
  if (area.filled) {
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
function ioptCutIovaFaulty(iopt: IoPagetable, iovas: readonly bigint[]): number {
  for (const iova of iovas) {
    const area = ioptAreaIterFirst(iopt, iova, iova);
    if (!area) continue;
    const rc = ioptAreaSplitFaulty(iopt, area, iova);
    if (rc) return rc;
  }
  return 0;
}

/** iommufd_vfio_unmap_dma, as the reference's, over the faulty cut. */
function vfioUnmapDma(ctx: IommufdCtx, d: CompatDecode, arg: bigint): number {
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
      rc = ioptCutIovaFaulty(iopt, iova ? iovas : iovas.slice(0, 1));
      if (rc) return rc;
    }
    rc = ioptUnmapIova(iopt, iova, size, unmapped);
  }
  unmap.set('size', unmapped.bytes);
  const minsz = commandMinSize(ctx.profile, d.command) ?? 0;
  if (!ctx.proc.copyToUser(arg, unmap.bytes.subarray(0, minsz))) rc = -EFAULT;
  return rc;
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('split-large-page-guard-inverted', profile, {
    compat: { VFIO_IOMMU_UNMAP_DMA: (ctx, d, arg) => vfioUnmapDma(ctx, d, arg) },
  });
}
