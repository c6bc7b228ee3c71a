/**
 * access-item-destroy-skips-unpin (drivers/iommu/iommufd/selftest.c
 * iommufd_test_access_item_destroy, reached by
 * IOMMU_TEST_OP_DESTROY_ACCESS_PAGES; 6.12 and 7.3).
 *
 * The kernel's code (7.3; 6.12 is the same):
 *
 *     mutex_lock(&staccess->lock);
 *     list_for_each_entry(item, &staccess->items, items_elm) {
 *             if (item->id == item_id) {
 *                     list_del(&item->items_elm);
 *                     iommufd_access_unpin_pages(staccess->access, item->iova,
 *                                                item->length);
 *                     mutex_unlock(&staccess->lock);
 *                     kfree(item);
 *                     fput(staccess->file);
 *                     return 0;
 *             }
 *     }
 *
 * The item is the driver's only record of a pin it holds through
 * iommufd_access_pin_pages (IOMMU_TEST_OP_ACCESS_PAGES): destroying it must
 * give the pin back (iommufd_access_unpin_pages → iopt_area_remove_access:
 * the area's num_accesses and the pages' access range drop, and the pages
 * are unpinned and uncharged when nothing else holds them).
 *
 * The fault: the unpin is lost when the item is dropped (the developer
 * counts on the unmap callback, iommufd_test_access_unmap, or the file's
 * release to unpin, forgetting that both only unpin items still on the
 * list):
 *
 *                     list_del(&item->items_elm);
 *                     mutex_unlock(&staccess->lock);
 *                     kfree(item);
 *
 * DESTROY_ACCESS_PAGES answers 0 as the kernel does, but the pin is now
 * orphaned: no item names it, so nothing will ever call
 * iommufd_access_unpin_pages for it. What shows later, on other objects:
 * the pages stay pinned and charged (MD_CHECK_REFS, pinned_vm/locked_vm,
 * RLIMIT_MEMLOCK) after the access and every fd are closed; the area keeps
 * num_accesses > 0, so IOMMU_IOAS_UNMAP of it (or IOMMU_IOAS_UNMAP of
 * everything) notifies the accesses, none unpins, and after 100 tries fails
 * with EDEADLOCK (leaving the area prevent_access, so further pins and
 * access_rw of it fail with EINVAL), and the IOAS's destruction at close
 * cannot unmap it (iommufd_ioas_destroy WARNs and the pages leak); an
 * IOMMU_IOAS_COPY source still shares the pinned pages; and a later pin of
 * the same exact range (by any access, through any IOAS sharing the pages)
 * reuses the orphaned iopt_pages_access.
 *
 * Applied as: the selftest access's shared copies (_access_pages.ts:
 * ACCESS_PAGES, DESTROY_ACCESS_PAGES, the unmap notification and the file's
 * release) over the reference's iommufd_access_unpin_pages, with
 * iommufd_test_access_item_destroy's unpin lost; everything else is the
 * reference's.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { iommufdAccessUnpinPages } from '../../../impl/iommufd/access.ts';
import { mutantImplementation } from '../harness.ts';
import { accessUnpinHooks } from './_access_pages.ts';

export function createAdapter(profile: Profile): Implementation {
  // THE FAULT: iommufd_access_unpin_pages(staccess->access, item->iova, item->length) is lost from the item destroy.
  return mutantImplementation('access-item-destroy-skips-unpin', profile, accessUnpinHooks({ unpinPages: iommufdAccessUnpinPages, itemDestroyUnpins: false }));
}
