/**
 * split-drops-storage-domain (drivers/iommu/iommufd/io_pagetable.c
 * iopt_area_split, reached from iommufd_vfio_unmap_dma → iopt_cut_iova).
 *
 * VFIO type1 (v1) compatibility lets userspace unmap part of a mapping:
 * iommufd_vfio_unmap_dma cuts the areas at the ends of the range
 * (iopt_cut_iova → iopt_area_split) and then unmaps the whole areas inside.
 * iopt_area_split replaces the area by two new ones on the same iopt_pages,
 * and the new areas inherit the area's domain state:
 *     lhs->storage_domain = area->storage_domain;
 *     lhs->pages = area->pages;
 *     rhs->storage_domain = area->storage_domain;
 *     rhs->pages = area->pages;
 *     kref_get(&rhs->pages->kref);
 *     kfree(area);
 * The fault loses the two storage_domain assignments (the kzalloc'ed halves
 * keep storage_domain == NULL) — the kind of line dropped when the
 * domains_itree update around it is reworked.
 *
 * iopt_area_unfill_domains() starts with
 *     if (!area->storage_domain) goto out_unlock;
 * so when a half is later unmapped (the rest of the VFIO_IOMMU_UNMAP_DMA,
 * a later UNMAP_DMA, VFIO_DMA_UNMAP_FLAG_ALL, or the IOAS's destruction)
 * nothing is unmapped from the IOAS's domains and nothing is unpinned, while
 * the area itself is removed from the IOVA tree and reported as unmapped.
 * Removing the last domain (iopt_unfill_domain) does not unpin it either.
 *
 * Consequence for a user: after a successful VFIO_IOMMU_UNMAP_DMA of part of
 * a mapping, the devices attached to the compat IOAS can still read and write
 * the unmapped IOVA range, i.e. the user memory the process believes is no
 * longer reachable by DMA (a stale translation); the pages stay pinned (and
 * charged) for good, even after every fd is closed; and a new mapping at that
 * IOVA fails in the domain (the IOVA is still mapped there).
 *
 * Applied as: VFIO_IOMMU_UNMAP_DMA on the iommufd is served by a copy of the
 * reference's iommufd_vfio_unmap_dma whose area split does not carry the
 * area's domain state (`filled`, which stands for storage_domain and the
 * pins it holds) over to the two halves.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation, type CompatDecode } from '../harness.ts';
import { EBUSY, EFAULT, EINVAL, ENODEV, ENOMEM } from '../../../impl/lib/errno.ts';
import { VFIO_DMA_UNMAP_FLAG_ALL } from '../../../spec/uapi/constants.ts';
import { commandMinSize } from '../../../spec/uapi/lookup.ts';
import { layoutOf, UcmdStruct } from '../../../impl/iommufd/ucmd.ts';
import { IoptArea, type IoPagetable, type IommufdCtx, type IommufdIoas } from '../../../impl/iommufd/iommufd_private.ts';
import { ioptAreaIterFirst, ioptAreaStartByte, ioptUnmapAll, ioptUnmapIova } from '../../../impl/iommufd/io_pagetable.ts';
import { ioptGetPagesRef } from '../../../impl/iommufd/pages.ts';

/** get_compat_ioas */
function getCompatIoas(ctx: IommufdCtx): IommufdIoas | number {
  const ioas = ctx.vfioIoas;
  if (!ioas || ioas.type !== 'IOAS' || ctx.objects.load(ioas.id) !== ioas) return -ENODEV;
  return ioas as IommufdIoas;
}

/** iopt_area_split with the fault: the halves do not inherit storage_domain. */
function ioptAreaSplitFaulty(iopt: IoPagetable, area: IoptArea, iova: bigint): number {
  const alignment = BigInt(iopt.iovaAlignment);
  const newStart = iova + 1n;
  if (iova === area.start || iova === area.last) return 0;
  if (!area.pages || area.preventAccess) return -EBUSY;
  if (newStart & (alignment - 1n) || ioptAreaStartByte(area, newStart) & (alignment - 1n)) return -EINVAL;
  if (iopt.faults.shouldFail()) return -ENOMEM; // lhs
  if (iopt.faults.shouldFail()) return -ENOMEM; // rhs
  if (area.numAccesses) return -EINVAL;
  if (area.filled && !iopt.disableLargePages) return -EINVAL;
  const lhs = new IoptArea(iopt, area.start, newStart - 1n, area.startByte, area.iommuProt);
  const rhs = new IoptArea(iopt, newStart, area.last, ioptAreaStartByte(area, newStart), area.iommuProt);
  lhs.pages = area.pages;
  rhs.pages = area.pages;
  ioptGetPagesRef(area.pages);
  // THE FAULT: lhs->storage_domain / rhs->storage_domain are not set: the
  // halves are not `filled`, and the area's pins for the domains stay with no owner.
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
  return mutantImplementation('split-drops-storage-domain', profile, {
    compat: { VFIO_IOMMU_UNMAP_DMA: (ctx, d, arg) => vfioUnmapDma(ctx, d, arg) },
  });
}
