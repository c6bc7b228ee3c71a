/**
 * Shared by the J faults that change one step of the unmap path: a copy of
 * iommufd_ioas_unmap / iopt_unmap_iova_range (io_pagetable.c) whose area
 * teardown (iopt_area_unfill_domains), cut test (an area only partly
 * inside the range: ENOENT) and access test (an area accesses pin) are parameters, and of iommufd_ioas_unmap and
 * iommufd_vfio_unmap_dma over any such walk. With the reference's
 * ioptAreaUnfillDomains and REFUSES_CUT it answers exactly as the reference does.
 */
import { EBUSY, EDEADLOCK, EFAULT, EINVAL, ENODEV, ENOENT, EOVERFLOW } from '../../../impl/lib/errno.ts';
import { iommufdGetIoas, iommufdUcmdRespond, ULONG_MAX, type IommufdCtx, type IommufdIoas, type IoPagetable, type IoptArea, type IoptPages, type Ucmd } from '../../../impl/iommufd/iommufd_private.ts';
import { ioptAreaIterFirst, ioptCutIova } from '../../../impl/iommufd/io_pagetable.ts';
import { layoutOf, UcmdStruct } from '../../../impl/iommufd/ucmd.ts';
import { commandMinSize } from '../../../spec/uapi/lookup.ts';
import { VFIO_DMA_UNMAP_FLAG_ALL } from '../../../spec/uapi/constants.ts';
import type { CompatDecode } from '../harness.ts';
import { ioptPutPages } from '../../../impl/iommufd/pages.ts';

export type Unfill = (iopt: IoPagetable, area: IoptArea, pages: IoptPages) => void;
/** Whether an area found in [start, last] is refused as one the unmap would cut (the area itself, for a fault that touches it there). */
export type Cuts = (areaFirst: bigint, areaLast: bigint, start: bigint, last: bigint, area: IoptArea) => boolean;

/** iopt_unmap_iova_range's own test: `area_first < start || area_last > last`. */
export const REFUSES_CUT: Cuts = (areaFirst, areaLast, start, last) => areaFirst < start || areaLast > last;

/** Whether accesses pin an area, so the walk must tell them to let go first. */
export type Accessed = (area: IoptArea) => boolean;

/** iopt_unmap_iova_range's own test: `area->num_accesses`. */
export const HAS_ACCESSES: Accessed = (area) => area.numAccesses > 0;

/** The range the accesses of an area are told to unpin (iommufd_access_notify_unmap's iova and length), for the request's [start, last]. */
export type Told = (area: IoptArea, start: bigint, last: bigint) => { iova: bigint; length: bigint };

/** iopt_unmap_iova_range's own: the area, `iopt_area_iova(area), iopt_area_length(area)`. */
export const THE_AREA: Told = (area) => ({ iova: area.start, length: area.length });

/** Whether the walk's retry count starts again at an area, from where the area starts and where the walk is. */
export type ResetsTries = (areaFirst: bigint, start: bigint) => boolean;

/** iopt_unmap_iova_range's own: `if (area_first != start) tries = 0;` (an area that starts where the last one ended keeps the count). */
export const AT_A_GAP: ResetsTries = (areaFirst, start) => areaFirst !== start;

/** iopt_unmap_iova_range, tearing each area down with `unfill`. */
export function unmapRange(iopt: IoPagetable, start: bigint, last: bigint, unmapped: { bytes: bigint }, unfill: Unfill, cuts: Cuts = REFUSES_CUT, accessed: Accessed = HAS_ACCESSES, told: Told = THE_AREA, resets: ResetsTries = AT_A_GAP): number {
  let tries = 0;
  unmapped.bytes = 0n;
  for (;;) {
    const area = ioptAreaIterFirst(iopt, start, last);
    if (!area) return 0;
    const areaFirst = area.start;
    const areaLast = area.last;
    if (!area.pages) return -EBUSY;
    if (area.numLocks) return -EBUSY;
    if (cuts(areaFirst, areaLast, start, last, area)) return -ENOENT;
    if (resets(areaFirst, start)) tries = 0;
    if (accessed(area)) {
      start = areaFirst;
      area.preventAccess = true;
      const range = told(area, start, last);
      for (const access of [...iopt.accessList.values()]) access.notifyUnmap(range.iova, range.length);
      tries++;
      if (tries > 100) return -EDEADLOCK;
      continue;
    }
    const pages = area.pages;
    area.pages = null;
    unfill(iopt, area, pages);
    iopt.areas.splice(iopt.areas.indexOf(area), 1);
    ioptPutPages(pages);
    unmapped.bytes += areaLast - areaFirst + 1n;
    if (areaLast >= last) return 0;
    start = areaLast + 1n;
  }
}

/** An iopt_unmap_iova_range: unmap the areas in [start, last], adding their bytes to `unmapped`. */
export type RangeUnmap = (iopt: IoPagetable, start: bigint, last: bigint, unmapped: { bytes: bigint }) => number;

/**
 * iommufd_ioas_unmap over a range walk (unmap-all too); `isUnmapAll` is its
 * test of the request that means every area (the kernel's: iova 0 and length U64_MAX).
 */
export function ioasUnmapWith(walk: RangeUnmap, { isUnmapAll = (iova, length) => iova === 0n && length === ULONG_MAX }: { readonly isUnmapAll?: (iova: bigint, length: bigint) => boolean } = {}): (ucmd: Ucmd) => number {
  return (ucmd) => {
    const { cmd, ctx } = ucmd;
    const r = iommufdGetIoas(ctx, cmd.num('ioas_id'));
    if (r.errno) return r.errno;
    const iopt = r.value!.iopt;
    const iova = cmd.big('iova');
    const length = cmd.big('length');
    const unmapped = { bytes: 0n };
    let rc: number;
    if (isUnmapAll(iova, length)) {
      rc = walk(iopt, 0n, ULONG_MAX, unmapped);
      if (rc) return rc;
    } else {
      if (iova >= ULONG_MAX || length >= ULONG_MAX) return -EOVERFLOW;
      if (!length) return -EINVAL;
      const last = iova + length - 1n;
      if (last > ULONG_MAX) return -EOVERFLOW;
      rc = walk(iopt, iova, last, unmapped);
      if (rc) return rc;
      if (!unmapped.bytes) return -ENOENT;
    }
    cmd.set('length', unmapped.bytes);
    return iommufdUcmdRespond(ucmd);
  };
}

/** iopt_cut_iova: split the areas at each IOVA given (a type1 v1 unmap's cuts). */
export type CutIova = (iopt: IoPagetable, iovas: readonly bigint[]) => number;

/** Whether an unmap of the compat IOAS cuts mappings first (type1 v1): the reference's READ_ONCE(ioas->iopt.disable_large_pages). */
export type CutsMappings = (ctx: IommufdCtx, ioas: IommufdIoas) => boolean;

/**
 * iommufd_vfio_unmap_dma over a range walk (type1 v1 cuts first with `cut`,
 * where `cuts` says so), taking the flags in `supported` (the kernel's:
 * VFIO_DMA_UNMAP_FLAG_ALL alone); the reference's by default.
 */
export function vfioUnmapDmaWith(walk: RangeUnmap, cut: CutIova = ioptCutIova, cuts: CutsMappings = (_ctx, ioas) => ioas.iopt.disableLargePages, supported: number = VFIO_DMA_UNMAP_FLAG_ALL): (ctx: IommufdCtx, d: CompatDecode, arg: bigint) => number {
  return (ctx, d, arg) => {
    const unmap = new UcmdStruct(layoutOf(d.command.struct ?? '', ctx.profile), d.bytes);
    const flags = unmap.num('flags');
    if (flags & ~supported) return -EINVAL;
    const ioas = ctx.vfioIoas as IommufdIoas | null;
    if (!ioas || ioas.type !== 'IOAS' || ctx.objects.load(ioas.id) !== ioas) return -ENODEV;
    const iopt = ioas.iopt;
    const iova = unmap.big('iova');
    const size = unmap.big('size');
    const unmapped = { bytes: 0n };
    let rc: number;
    if (flags & VFIO_DMA_UNMAP_FLAG_ALL) {
      if (iova !== 0n || size !== 0n) return -EINVAL;
      rc = walk(iopt, 0n, ULONG_MAX, unmapped);
    } else {
      if (cuts(ctx, ioas)) {
        const iovas = [BigInt.asUintN(64, iova + size - 1n), BigInt.asUintN(64, iova - 1n)];
        rc = cut(iopt, iova ? iovas : iovas.slice(0, 1));
        if (rc) return rc;
      }
      // iopt_unmap_iova
      if (!size) rc = -EINVAL;
      else if (iova + size - 1n > ULONG_MAX) rc = -EOVERFLOW;
      else rc = walk(iopt, iova, iova + size - 1n, unmapped);
    }
    unmap.set('size', unmapped.bytes);
    if (!ctx.proc.copyToUser(arg, unmap.bytes.subarray(0, commandMinSize(ctx.profile, d.command) ?? 0))) rc = -EFAULT;
    return rc;
  };
}

/** iommufd_ioas_unmap over unmapRange. */
export function unmapHandler(unfill: Unfill, cuts: Cuts = REFUSES_CUT): (ucmd: Ucmd) => number {
  return ioasUnmapWith((iopt, start, last, unmapped) => unmapRange(iopt, start, last, unmapped, unfill, cuts));
}
