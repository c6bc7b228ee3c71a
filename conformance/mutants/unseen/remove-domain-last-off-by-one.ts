/**
 * Round 5b fault (drivers/iommu/iommufd/io_pagetable.c
 * iopt_table_remove_domain → iopt_unfill_domain).
 *
 * When a domain leaves an IOAS that other domains still use, only its
 * mappings go ("Some other domain is holding all the pfns still, rapidly
 * unmap this domain") and the areas keep their pins; only the last domain
 * unfills and unpins. The fault tests "other domains remain" as
 * next_domain_ix > 1 after the leaving domain was already taken out of the
 * array (the count the test was written for was the one before the erase):
 * with two domains, removing either one unpins every area (storage_domain
 * NULL, pages unpinned and uncharged) although the remaining domain still
 * maps the frames. The device keeps DMA access to pages nothing pins (the
 * process may munmap them and the frames be reused), and since the areas are
 * now "unfilled", a later IOMMU_IOAS_UNMAP skips the domains altogether and
 * leaves the remaining domain's PTEs in place.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';
import { hwptPagingDestroy } from './_hwpt_destroy.ts';
import type { IommufdHwptPaging, IoPagetable, IoptDomain } from '../../../impl/iommufd/iommufd_private.ts';
import { ioptRemoveAccess, ioptRemoveReservedIova } from '../../../impl/iommufd/io_pagetable.ts';
import { ioptAreaUnfillDomain } from '../../../impl/iommufd/pages.ts';

/** iopt_table_remove_domain with the faulty "last domain" test. */
function removeDomain(iopt: IoPagetable, domain: IoptDomain): void {
  const i = iopt.domains.indexOf(domain);
  if (i < 0) throw new Error('iopt_table_remove_domain: domain not in the table');
  iopt.domains.splice(i, 1);
  const last = !(iopt.domains.length > 1); // THE FAULT: should be iopt.domains.length === 0
  for (const area of iopt.areas) if (area.pages) ioptAreaUnfillDomain(area, domain, last);
  ioptRemoveReservedIova(iopt, domain);
  ioptRemoveAccess(iopt, -1); // no slot: only iopt_calculate_iova_alignment
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('remove-domain-last-off-by-one', profile, {
    object: (obj) => {
      if (obj?.type !== 'HWPT_PAGING') return;
      const hwpt = obj as IommufdHwptPaging;
      // iommufd_hwpt_paging_destroy with the faulty iopt_table_remove_domain.
      patchOwn(hwpt, 'destroy', () => () => hwptPagingDestroy(hwpt, { removeDomain }));
    },
  });
}
