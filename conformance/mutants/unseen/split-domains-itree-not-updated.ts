/**
 * split-domains-itree-not-updated (drivers/iommu/iommufd/io_pagetable.c
 * iopt_area_split, reached through iopt_cut_iova from
 * iommufd_vfio_unmap_dma when a VFIO type1 (v1) container cuts a mapping
 * that a domain holds; 6.12 and 7.3).
 *
 * An area that a domain holds is linked in its pages' domains_itree (the
 * index range of pages that some domain keeps pinned): the pfn reader and
 * every unpin walk that tree to know which pages are still held elsewhere.
 * A split replaces the area by two halves on the same iopt_pages and has to
 * move that node too; the kernel's code:
 *
 *     /*
 *      * If the original area has filled a domain, domains_itree has to be
 *      * updated.
 *      *\/
 *     if (area->storage_domain) {
 *             interval_tree_remove(&area->pages_node, &pages->domains_itree);
 *             interval_tree_insert(&lhs->pages_node, &pages->domains_itree);
 *             interval_tree_insert(&rhs->pages_node, &pages->domains_itree);
 *     }
 *
 *     lhs->storage_domain = area->storage_domain;
 *     ...
 *     kfree(area);
 *
 * THE FAULT is the split without that block — exactly as the split was
 * written before upstream's "iommufd: Fix missing update of domains_itree
 * after splitting iopt_area": the halves take the storage domain but are not
 * in domains_itree, and the freed area's node stays there, covering the
 * whole original index range. The cut itself answers as before. From then
 * on every unfill under that range (__iopt_area_unfill_domain) finds the
 * indexes "still used by a domain": when a half is unmapped
 * (VFIO_IOMMU_UNMAP_DMA, IOMMU_IOAS_UNMAP, the IOAS's destruction) or its
 * last domain leaves, the domains are emptied (the residual unmap) but
 * nothing is unpinned or uncharged, and interval_tree_remove of a half's
 * never-inserted node is a no-op. The pages of every mapping a type1
 * container ever cut while a device was attached stay pinned and charged
 * for good — after the unmap, after close — and so do the pins of any other
 * area of the same pages (a copy in another IOAS) whose unfill walks the
 * stale node. A half that a later domain fills again (after the last domain
 * left) is inserted then and holds its own pin normally; the stale node's
 * stays.
 *
 * Applied as: VFIO_IOMMU_UNMAP_DMA cuts with the faulty split, which records
 * the halves of a filled area as "not in domains_itree" (the original
 * area's hold is left in place, as the stale node's); IOMMU_IOAS_UNMAP,
 * VFIO_IOMMU_UNMAP_DMA, an IOAS's destruction and a paging HWPT's
 * (iopt_table_remove_domain) unmap such a half from every domain without
 * releasing any hold. A later reader that would read PFNs through the freed
 * area's node (a new domain's fill once the original domain is gone) is not
 * modelled: the reference's frames are used.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';
import { EBUSY, EINVAL, ENOENT, ENOMEM, errnoName } from '../../../impl/lib/errno.ts';
import { IoptArea, ULONG_MAX, type IommufdHwptPaging, type IommufdIoas, type IoPagetable, type IoptDomain, type IoptPages } from '../../../impl/iommufd/iommufd_private.ts';
import { ioptAreaIterFirst, ioptAreaStartByte, ioptDestroyTable, ioptRemoveAccess, ioptRemoveReservedIova } from '../../../impl/iommufd/io_pagetable.ts';
import { ioptAreaUnmapDomain, ioptGetPagesRef, ioptPagesRelease } from '../../../impl/iommufd/pages.ts';
import { ioasUnmapWith, unmapRange, vfioUnmapDmaWith } from './_unmap.ts';
import { hwptPagingDestroy } from './_hwpt_destroy.ts';

export function createAdapter(profile: Profile): Implementation {
  /** Filled areas made by the faulty split: storage_domain set, pages_node not in domains_itree. */
  const outOfTree = new WeakSet<IoptArea>();

  /** iopt_area_split without the domains_itree update. */
  const areaSplit = (iopt: IoPagetable, area: IoptArea, iova: bigint): number => {
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
    if (area.filled) {
      // lhs->storage_domain = rhs->storage_domain = area->storage_domain ...
      lhs.filled = true;
      rhs.filled = true;
      // THE FAULT: no interval_tree_remove(area)/insert(lhs)/insert(rhs) on domains_itree. The freed
      // area's node keeps covering the range (its hold stays); the halves are not in the tree.
      outOfTree.add(lhs);
      outOfTree.add(rhs);
    }
    const i = iopt.areas.indexOf(area);
    iopt.areas.splice(i, 1, lhs, rhs);
    return 0;
  };

  /** iopt_cut_iova over the faulty split. */
  const cutIova = (iopt: IoPagetable, iovas: readonly bigint[]): number => {
    for (const iova of iovas) {
      const area = ioptAreaIterFirst(iopt, iova, iova);
      if (!area) continue;
      const rc = areaSplit(iopt, area, iova);
      if (rc) return rc;
    }
    return 0;
  };

  /** iopt_area_unfill_domains: a half out of domains_itree is unmapped everywhere, nothing unpinned. */
  const unfill = (iopt: IoPagetable, area: IoptArea, pages: IoptPages): void => {
    if (!area.filled) return;
    for (const domain of iopt.domains) ioptAreaUnmapDomain(area, domain);
    if (!outOfTree.has(area)) ioptPagesRelease(pages, area.firstIndex, area.lastIndex);
    outOfTree.delete(area);
    area.filled = false;
  };

  const walk = (iopt: IoPagetable, start: bigint, last: bigint, unmapped: { bytes: bigint }): number => unmapRange(iopt, start, last, unmapped, unfill);

  /** iopt_table_remove_domain → iopt_unfill_domain, where the last domain's unfill of a half unpins nothing. */
  const removeDomain = (iopt: IoPagetable, domain: IoptDomain): void => {
    const i = iopt.domains.indexOf(domain);
    if (i < 0) throw new Error('iopt_table_remove_domain: domain not in the table');
    iopt.domains.splice(i, 1);
    const last = iopt.domains.length === 0;
    for (const area of iopt.areas) {
      if (!area.pages) continue;
      ioptAreaUnmapDomain(area, domain);
      if (last && area.filled) {
        if (!outOfTree.has(area)) ioptPagesRelease(area.pages, area.firstIndex, area.lastIndex);
        outOfTree.delete(area);
        area.filled = false;
      }
    }
    ioptRemoveReservedIova(iopt, domain);
    ioptRemoveAccess(iopt, -1); // no slot: only iopt_calculate_iova_alignment
  };

  /** iommufd_vfio_unmap_dma, as the reference's, over the faulty cut and unfill. */
  const vfioUnmapDma = vfioUnmapDmaWith(walk, cutIova);

  return mutantImplementation('split-domains-itree-not-updated', profile, {
    handlers: { IOMMU_IOAS_UNMAP: ioasUnmapWith(walk) },
    compat: { VFIO_IOMMU_UNMAP_DMA: (ctx, d, arg) => vfioUnmapDma(ctx, d, arg) },
    object: (obj, ctx) => {
      if (obj?.type === 'HWPT_PAGING') {
        const hwpt = obj as IommufdHwptPaging;
        patchOwn(hwpt, 'destroy', () => () => hwptPagingDestroy(hwpt, { removeDomain }));
      } else if (obj?.type === 'IOAS') {
        const ioas = obj as IommufdIoas;
        // iommufd_ioas_destroy: iopt_unmap_all (over the faulty unfill), then iopt_destroy_table.
        patchOwn(ioas, 'destroy', () => () => {
          const rc = walk(ioas.iopt, 0n, ULONG_MAX, { bytes: 0n });
          if (rc && rc !== -ENOENT) ctx.warnings.push(`iommufd_ioas_destroy: iopt_unmap_all of IOAS ${ioas.id} failed (${errnoName(rc)})`);
          ioptDestroyTable(ioas.iopt);
        });
      }
    },
  });
}
