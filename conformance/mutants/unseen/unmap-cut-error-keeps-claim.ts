/**
 * unmap-cut-error-keeps-claim (drivers/iommu/iommufd/io_pagetable.c
 * iopt_unmap_iova_range, reached from IOMMU_IOAS_UNMAP and the VFIO type1
 * compat VFIO_IOMMU_UNMAP_DMA).
 *
 * An area is torn down by taking its pages out of it under the iova_rwsem
 * (area->pages = NULL tells map/copy/attach/access that the area is going),
 * but only once every test has passed:
 *
 *     if (!area->pages) { rc = -EBUSY; goto out_unlock_iova; }
 *     if (area->num_locks) { rc = -EBUSY; goto out_unlock_iova; }
 *     if (area_first < start || area_last > last) {
 *             rc = -ENOENT;
 *             goto out_unlock_iova;
 *     }
 *     if (area->num_accesses) { ... notify the accesses ...; goto again; }
 *     pages = area->pages;
 *     area->pages = NULL;
 *
 * The fault is a rework that claims the area first (pages = area->pages;
 * if (!pages) → EBUSY; area->pages = NULL;) and gives the pages back before
 * the accesses are notified and on the num_locks exit, but not on the
 * ENOENT exit for an area the range only partly covers. A failed
 * IOMMU_IOAS_UNMAP whose range cuts an area (the everyday mistake of
 * unmapping part of a mapping) leaves that area in the IOVA tree with
 * pages == NULL: "being torn down" for good.
 *
 * Consequence, after the failed unmap: the area is still mapped and pinned in
 * every domain (devices keep DMAing to it), but every later IOMMU_IOAS_UNMAP
 * over it, including unmap-all, fails with EBUSY (areas before it in the
 * range are removed first); IOAS_COPY and access pins/reads of it fail with
 * ENOENT; a new domain attached to the IOAS skips it (iopt_fill_domain: no
 * pages), so its devices see a hole there; and when the HWPTs go
 * (iopt_table_remove_domain also skips areas without pages) and the IOAS is
 * destroyed (iopt_unmap_all fails: the kernel WARNs and frees the table),
 * the pages are never unpinned: the memory stays pinned and charged to the
 * user's RLIMIT_MEMLOCK after everything is closed.
 *
 * Applied on IOMMU_IOAS_UNMAP and VFIO_IOMMU_UNMAP_DMA through a copy of the
 * reference's iopt_unmap_iova_range with the claim moved up.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation, type CompatDecode } from '../harness.ts';
import { EBUSY, EDEADLOCK, EFAULT, EINVAL, ENODEV, ENOENT, EOVERFLOW } from '../../../impl/lib/errno.ts';
import { iommufdGetIoas, iommufdUcmdRespond, ULONG_MAX, type IommufdCtx, type IommufdIoas, type IoPagetable, type Ucmd } from '../../../impl/iommufd/iommufd_private.ts';
import { ioptAreaIterFirst, ioptCutIova } from '../../../impl/iommufd/io_pagetable.ts';
import { ioptAreaUnfillDomains, ioptPutPages } from '../../../impl/iommufd/pages.ts';
import { layoutOf, UcmdStruct } from '../../../impl/iommufd/ucmd.ts';
import { commandMinSize } from '../../../spec/uapi/lookup.ts';
import { VFIO_DMA_UNMAP_FLAG_ALL } from '../../../spec/uapi/constants.ts';

/** iopt_unmap_iova_range with the teardown claim taken before the range test. */
function unmapRange(iopt: IoPagetable, start: bigint, last: bigint, unmapped: { bytes: bigint }): number {
  let tries = 0;
  unmapped.bytes = 0n;
  for (;;) {
    const area = ioptAreaIterFirst(iopt, start, last);
    if (!area) return 0;
    const areaFirst = area.start;
    const areaLast = area.last;
    // Userspace should not race map/unmap's of the same area.
    const pages = area.pages;
    if (!pages) return -EBUSY;
    area.pages = null; // claim the area under the iova_rwsem
    if (area.numLocks) {
      area.pages = pages;
      return -EBUSY;
    }
    // THE FAULT: the claim is not given back on this exit.
    if (areaFirst < start || areaLast > last) return -ENOENT;
    if (areaFirst !== start) tries = 0;
    if (area.numAccesses) {
      area.pages = pages; // the accesses unpin through the area
      start = areaFirst;
      area.preventAccess = true;
      for (const access of [...iopt.accessList.values()]) access.notifyUnmap(areaFirst, area.length);
      tries++;
      if (tries > 100) return -EDEADLOCK;
      continue;
    }
    ioptAreaUnfillDomains(iopt, area, pages);
    iopt.areas.splice(iopt.areas.indexOf(area), 1); // iopt_abort_area
    ioptPutPages(pages);
    unmapped.bytes += areaLast - areaFirst + 1n;
    if (areaLast >= last) return 0;
    start = areaLast + 1n;
  }
}

/** iommufd_ioas_unmap over the faulty walk. */
function ioasUnmap(ucmd: Ucmd): number {
  const { cmd, ctx } = ucmd;
  const r = iommufdGetIoas(ctx, cmd.num('ioas_id'));
  if (r.errno) return r.errno;
  const iopt = r.value!.iopt;
  const iova = cmd.big('iova');
  const length = cmd.big('length');
  const unmapped = { bytes: 0n };
  let rc: number;
  if (iova === 0n && length === ULONG_MAX) {
    rc = unmapRange(iopt, 0n, ULONG_MAX, unmapped);
    if (rc) return rc;
  } else {
    if (iova >= ULONG_MAX || length >= ULONG_MAX) return -EOVERFLOW;
    if (!length) return -EINVAL;
    const last = iova + length - 1n;
    if (last > ULONG_MAX) return -EOVERFLOW;
    rc = unmapRange(iopt, iova, last, unmapped);
    if (rc) return rc;
    if (!unmapped.bytes) return -ENOENT;
  }
  cmd.set('length', unmapped.bytes);
  return iommufdUcmdRespond(ucmd);
}

/** iommufd_vfio_unmap_dma over the faulty walk (type1 v1 cuts first, as the reference). */
function vfioUnmapDma(ctx: IommufdCtx, d: CompatDecode, arg: bigint): number {
  const unmap = new UcmdStruct(layoutOf(d.command.struct ?? '', ctx.profile), d.bytes);
  const flags = unmap.num('flags');
  if (flags & ~VFIO_DMA_UNMAP_FLAG_ALL) return -EINVAL;
  const ioas = ctx.vfioIoas as IommufdIoas | null;
  if (!ioas || ioas.type !== 'IOAS' || ctx.objects.load(ioas.id) !== ioas) return -ENODEV;
  const iopt = ioas.iopt;
  const iova = unmap.big('iova');
  const size = unmap.big('size');
  const unmapped = { bytes: 0n };
  let rc: number;
  if (flags & VFIO_DMA_UNMAP_FLAG_ALL) {
    if (iova !== 0n || size !== 0n) return -EINVAL;
    rc = unmapRange(iopt, 0n, ULONG_MAX, unmapped);
  } else {
    if (iopt.disableLargePages) {
      const iovas = [BigInt.asUintN(64, iova + size - 1n), BigInt.asUintN(64, iova - 1n)];
      rc = ioptCutIova(iopt, iova ? iovas : iovas.slice(0, 1));
      if (rc) return rc;
    }
    // iopt_unmap_iova
    if (!size) rc = -EINVAL;
    else if (iova + size - 1n > ULONG_MAX) rc = -EOVERFLOW;
    else rc = unmapRange(iopt, iova, iova + size - 1n, unmapped);
  }
  unmap.set('size', unmapped.bytes);
  if (!ctx.proc.copyToUser(arg, unmap.bytes.subarray(0, commandMinSize(ctx.profile, d.command) ?? 0))) rc = -EFAULT;
  return rc;
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('unmap-cut-error-keeps-claim', profile, {
    handlers: { IOMMU_IOAS_UNMAP: ioasUnmap },
    compat: { VFIO_IOMMU_UNMAP_DMA: (ctx, d, arg) => vfioUnmapDma(ctx, d, arg) },
  });
}
