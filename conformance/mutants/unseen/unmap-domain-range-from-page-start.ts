/**
 * unmap-domain-range-from-page-start (drivers/iommu/iommufd/pages.c
 * iopt_area_unmap_domain_range, used by iopt_area_unfill_domains,
 * iopt_area_unpin_domain and __iopt_area_unfill_domain's residual unmap:
 * IOMMU_IOAS_UNMAP / VFIO_IOMMU_UNMAP_DMA / IOAS destroy, and the last
 * domain leaving an IOAS).
 *
 * An area may start inside a page (page_offset != 0) when the IOAS's IO page
 * size is below PAGE_SIZE (the mock IOMMU's 2 KiB pages). Page indexes are
 * turned back into IOVAs with the first index special-cased, because the
 * area starts page_offset bytes into that page:
 *
 *     static unsigned long iopt_area_index_to_iova(struct iopt_area *area,
 *                                                  unsigned long index)
 *     {
 *             ...
 *             index -= iopt_area_index(area);
 *             if (index == 0)
 *                     return iopt_area_iova(area);
 *             return iopt_area_iova(area) - area->page_offset + index * PAGE_SIZE;
 *     }
 *
 *     static void iopt_area_unmap_domain_range(struct iopt_area *area,
 *                                              struct iommu_domain *domain,
 *                                              unsigned long start_index,
 *                                              unsigned long last_index)
 *     {
 *             unsigned long start_iova = iopt_area_index_to_iova(area, start_index);
 *
 *             iommu_unmap_nofail(domain, start_iova,
 *                                iopt_area_index_to_iova_last(area, last_index) -
 *                                        start_iova + 1);
 *     }
 *
 * The fault: iopt_area_unmap_domain_range open-codes the page formula,
 *
 *     unsigned long start_iova = iopt_area_iova(area) - area->page_offset +
 *             (start_index - iopt_area_index(area)) * PAGE_SIZE;
 *
 * which is right for every index but the area's first: a range starting
 * there begins at the start of the page, page_offset bytes *below* the area.
 * Tearing such an area out of a domain therefore also unmaps the IOVA just
 * below it. When another area ends there (two sub-page areas sharing a page:
 * two maps of neighbouring halves, or IOAS_COPY pieces), that neighbour loses
 * its translation in the domain while the IOAS still holds it mapped and
 * pinned: its devices fault on IOVA they were given. When nothing is mapped
 * below, a page table that stops at the first hole (iommu_unmap returns at the
 * first chunk the driver cannot unmap; the generic_pt formats) unmaps nothing
 * at all (iommu_unmap_nofail only WARNs): the area's translation survives its
 * unmap while its pages are unpinned, and the device keeps reaching them.
 *
 * Needs two steps at least (a sub-page area in a domain, then its unmap) and,
 * for the first consequence, a second area. Areas whose page_offset is 0 are
 * untouched, so a domain of PAGE_SIZE granularity never sees it. Removing a
 * domain while others remain (iopt_unfill_domain's fast path,
 * iopt_area_unmap_domain) and batch_to_domain's own unwind keep the right
 * start.
 *
 * Applied to the unmaps of a paging domain of an IOAS that start at a
 * sub-page area's first IOVA while the area is being torn down (area->pages
 * already NULL) or when its IOAS's last domain leaves.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';
import type { IommufdIoas, IoPagetable, IoptDomain } from '../../../impl/iommufd/iommufd_private.ts';

export function createAdapter(profile: Profile): Implementation {
  /** The IOAS each domain was added to (iopt_table_add_domain). */
  const ioptOf = new Map<IoptDomain, IoPagetable>();
  return mutantImplementation('unmap-domain-range-from-page-start', profile, {
    object: (obj) => {
      if (obj?.type !== 'IOAS') return;
      const iopt = (obj as IommufdIoas).iopt;
      patchOwn(iopt.domains, 'push', (push) => (...items: IoptDomain[]) => {
        for (const d of items) ioptOf.set(d, iopt);
        return push(...items);
      });
    },
    domain: (d) => {
      patchOwn(d, 'unmap', (unmap) => (iova: bigint, size: number) => {
        const iopt = ioptOf.get(d);
        const area = iopt?.areas.find((a) => a.start === iova);
        if (iopt && area && area.pageOffset !== 0) {
          // The area is being unmapped (every domain goes through iopt_area_unmap_domain_range or the unpin
          // path), or the IOAS's last domain is leaving (iopt_unfill_domain → iopt_area_unfill_domain).
          const tornDown = area.pages === null && iopt.domains.includes(d);
          const lastDomainLeaving = area.pages !== null && iopt.domains.length === 0;
          if (tornDown || lastDomainLeaving) {
            // THE FAULT: start_iova = iopt_area_iova(area) - area->page_offset for the first index.
            return unmap(iova - BigInt(area.pageOffset), size + area.pageOffset);
          }
        }
        return unmap(iova, size);
      });
    },
  });
}
