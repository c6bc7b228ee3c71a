/**
 * access-unmap-cb-unpins-notified-range (drivers/iommu/iommufd/selftest.c
 * iommufd_test_access_unmap, the selftest access's ops->unmap; 6.12 and 7.3).
 *
 * The unmap callback of an in-kernel access must give back every pin it holds
 * that meets the notified range. The kernel drops each intersecting item and
 * unpins exactly the range that item pinned, since iommufd_access_unpin_pages
 * needs "The iova/length must exactly match the one provided to access_pages":
 *
 *     static void iommufd_test_access_unmap(void *data, unsigned long iova,
 *                                           unsigned long length)
 *     {
 *             unsigned long iova_last = iova + length - 1;
 *             ...
 *             list_for_each_entry_safe(item, tmp, &staccess->items, items_elm) {
 *                     if (iova > item->iova + item->length - 1 ||
 *                         iova_last < item->iova)
 *                             continue;
 *                     list_del(&item->items_elm);
 *                     iommufd_access_unpin_pages(staccess->access, item->iova,
 *                                                item->length);
 *                     kfree(item);
 *             }
 *             ...
 *     }
 *
 * The fault passes the callback's own arguments, which have the same names:
 *
 *                     iommufd_access_unpin_pages(staccess->access, iova, length);
 *
 * A one-token slip that compiles and passes a test whose pin happens to cover
 * a whole area. Nothing changes when the pin is taken or when the item is
 * destroyed directly (IOMMU_TEST_OP_DESTROY_ACCESS_PAGES); it shows later,
 * on every path that goes through the callback:
 *   - IOMMU_IOAS_UNMAP of an area an item pins only part of: the callback
 *     forgets the item but unpins [area_first, area_last], which matches no
 *     iopt_pages_access (WARN, nothing dropped). The area keeps num_accesses,
 *     the notifier finds nobody to tell, and the unmap fails with EDEADLOCK;
 *     the pages stay pinned and charged and the area stays in the IOAS
 *     (prevent_access set: later pins and reads of it are EINVAL).
 *   - IOMMU_TEST_OP_ACCESS_REPLACE_IOAS and closing the access fd call it
 *     with (0, ULONG_MAX): nothing is unpinned at all, every item is forgotten,
 *     the old IOAS keeps the pins of an access that left it, its unmap and
 *     its destroy spin to EDEADLOCK, and the pages stay pinned (and locked_vm
 *     charged) after every fd is closed.
 *   - Where the notified range happens to be another pin's exact range (an
 *     item over the whole area, or the same iopt_pages shared by
 *     IOMMU_IOAS_COPY), the other pin is dropped instead.
 *
 * Applied as: the selftest access's ops->unmap and its file release run this
 * callback; every unpin (also IOMMU_TEST_OP_ACCESS_PAGES' unwind and
 * DESTROY_ACCESS_PAGES) is the kernel's iommufd_access_unpin_pages /
 * iopt_area_remove_access, which WARN and skip a range with no matching
 * iopt_pages_access (the reference asserts).
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation } from '../harness.ts';
import { accessUnpinHooks, accessUnpinPagesWith, areaRemoveAccessWarn } from './_access_pages.ts';

export function createAdapter(profile: Profile): Implementation {
  // IOMMU_TEST_OP_ACCESS_PAGES, DESTROY_ACCESS_PAGES, the unmap callback and the file's release,
  // with the kernel's (WARNing) unpin.
  return mutantImplementation(
    'access-unmap-cb-unpins-notified-range',
    profile,
    // THE FAULT: iommufd_access_unpin_pages(staccess->access, iova, length) — the notified range, not the item's.
    accessUnpinHooks({ unpinPages: accessUnpinPagesWith(areaRemoveAccessWarn), unmapUnpins: (_item, iova, length) => [iova, length] }),
  );
}
