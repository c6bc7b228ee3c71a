/**
 * mm-account-upgrade-after-map (drivers/iommu/iommufd/io_pagetable.c
 * iopt_map_common (7.3) / iopt_map_user_pages (6.12): where a ctx's
 * IOMMU_OPTION_RLIMIT_MODE takes effect; 6.12 and 7.3).
 *
 * A ctx in RLIMIT_MODE 1 (set by IOMMU_OPTION, or opened as /dev/vfio/vfio)
 * charges its pins VFIO style, to mm->locked_vm. The mode is recorded on each
 * new iopt_pages before it is mapped, because mapping into an IOAS that
 * already has a domain pins and charges right away (iopt_fill_domains_pages →
 * pfn_reader_update_pinned → do_update_pinned(pages->account_mode)):
 *
 *     elm.pages = pages;
 *     elm.start_byte = start_byte;
 *     if (ictx->account_mode == IOPT_PAGES_ACCOUNT_MM &&
 *         elm.pages->account_mode == IOPT_PAGES_ACCOUNT_USER)
 *             elm.pages->account_mode = IOPT_PAGES_ACCOUNT_MM;
 *     elm.length = length;
 *     list_add(&elm.next, &pages_list);
 *
 *     rc = iopt_map_pages(iopt, &pages_list, length, iova, iommu_prot, flags);
 *     if (rc) { ... return rc; }
 *     return 0;
 *
 * The fault moves the upgrade below the map, onto the success path ("adjust
 * the pages once they are committed to the IOAS"), still through the
 * function's own `pages` pointer:
 *
 *     rc = iopt_map_pages(iopt, &pages_list, length, iova, iommu_prot, flags);
 *     if (rc) { ... return rc; }
 *     if (ictx->account_mode == IOPT_PAGES_ACCOUNT_MM &&
 *         pages->account_mode == IOPT_PAGES_ACCOUNT_USER)
 *             pages->account_mode = IOPT_PAGES_ACCOUNT_MM;
 *     return 0;
 *
 * Maps into an IOAS without a domain pin nothing at map time and are
 * unaffected. A map of an RLIMIT_MODE=1 ctx into an IOAS that already has a
 * domain charges its pins to the user's locked_vm (checked against
 * RLIMIT_MEMLOCK there) instead of the mm's: mm->locked_vm (process_info)
 * does not grow. Later, the unpin (IOMMU_IOAS_UNMAP, the domain leaving, the
 * IOAS destroyed, close) uncharges the mm, which was never charged: the
 * user's locked_vm keeps the pages forever after every fd is closed, so
 * later USER-mode maps of the same user fail with ENOMEM early, and the mm's
 * locked_vm is taken down by what other mappings had legitimately charged.
 *
 * Applied as: IOMMU_IOAS_MAP and VFIO_IOMMU_MAP_DMA (both iopt_map_user_pages)
 * map a USER-mode iopt_pages and only then upgrade it to MM.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { ioptMapPages } from '../../../impl/iommufd/io_pagetable.ts';
import { mutantImplementation } from '../harness.ts';
import { ioasMapHandler, vfioMapDmaHandler } from './_map.ts';

/**
 * iopt_map_pages as the faulty iopt_map_common calls it: the pages
 * iopt_map_user_pages has just upgraded (USER → MM; a fresh iopt_pages is
 * otherwise USER or NONE) are still USER while they are mapped and pinned.
 */
const mapPagesUpgradeAfter: typeof ioptMapPages = (iopt, list, length, dstIova, prot, flags) => {
  const pages = list[0]?.pages;
  if (!pages || pages.accountMode !== 'MM') return ioptMapPages(iopt, list, length, dstIova, prot, flags);
  pages.accountMode = 'USER';
  const rc = ioptMapPages(iopt, list, length, dstIova, prot, flags);
  // THE FAULT: the upgrade, after a successful map.
  if (!rc) pages.accountMode = 'MM';
  return rc;
};

export function createAdapter(profile: Profile): Implementation {
  const vfioMap = vfioMapDmaHandler({ mapPages: mapPagesUpgradeAfter });
  return mutantImplementation('mm-account-upgrade-after-map', profile, {
    handlers: {
      IOMMU_IOAS_MAP: ioasMapHandler({ mapPages: mapPagesUpgradeAfter }),
    },
    compat: { VFIO_IOMMU_MAP_DMA: (ctx, d) => vfioMap(ctx, d) },
  });
}
