/**
 * access-unmap-cb-first-item-only (drivers/iommu/iommufd/selftest.c,
 * iommufd_test_access_unmap: the selftest access's iommufd_access_ops.unmap,
 * standing for every emulated-device driver's dma_unmap callback).
 *
 * The contract (device.c, iommufd_access_notify_unmap): "After this function
 * returns there should be no users attached to the pages linked to this iopt
 * that intersect with iova,length." The kernel's callback walks all its
 * items and unpins each one the range meets:
 *
 *     mutex_lock(&staccess->lock);
 *     list_for_each_entry_safe(item, tmp, &staccess->items, items_elm) {
 *             if (iova > item->iova + item->length - 1 ||
 *                 iova_last < item->iova)
 *                     continue;
 *             list_del(&item->items_elm);
 *             iommufd_access_unpin_pages(staccess->access, item->iova,
 *                                        item->length);
 *             kfree(item);
 *     }
 *     mutex_unlock(&staccess->lock);
 *
 * THE FAULT: the walk is the plain list_for_each_entry, and -- since freeing
 * the cursor would make the next step read freed memory -- the author stops
 * after the first item it frees (`break;` after kfree(item)). For
 * IOMMU_IOAS_UNMAP this goes unnoticed: iopt_unmap_iova_range sees the area
 * still has num_accesses and notifies again (up to 100 times), each call
 * dropping one more item. But the callers that call it once and rely on it
 * emptying the access are not forgiving:
 *
 *  - iommufd_access_change_ioas (IOMMU_TEST_OP_ACCESS_REPLACE_IOAS, vfio's
 *    iommufd_access_replace): ops->unmap(0, ULONG_MAX) drops one item; the
 *    others stay pinned in the *old* IOAS (its areas keep num_accesses, its
 *    pages stay pinned and charged) while the access moves to the new one.
 *    Their later unpin (DESTROY_ACCESS_PAGES) goes to the new IOAS
 *    (access->ioas_unpin) and finds nothing (WARN), and an unmap of the old
 *    area notifies the old IOAS's accesses -- no longer this one -- 100 times
 *    and fails with EDEADLOCK, leaving the area mapped and prevent_access.
 *  - iommufd_test_staccess_release: closing the access fd drops one item,
 *    iommufd_access_destroy's change_ioas(NULL) one more; the rest are never
 *    unpinned: the pins outlive the access, the IOAS and the iommufd file.
 *
 * Applied as: the access's ops->unmap is the faulty callback; every unpin of
 * the selftest access (DESTROY_ACCESS_PAGES, ACCESS_PAGES' unwind, the
 * callback, the fd's release) is iommufd_access_unpin_pages as the kernel
 * writes it, WARNing where the range has no matching pin (_access_pages.ts).
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation } from '../harness.ts';
import { accessUnpinHooks, accessUnpinPagesWith, areaRemoveAccessWarn } from './_access_pages.ts';

export function createAdapter(profile: Profile): Implementation {
  // iommufd_test_access_unmap with THE FAULT: it returns after the first item it drops.
  return mutantImplementation('access-unmap-cb-first-item-only', profile, accessUnpinHooks({ unpinPages: accessUnpinPagesWith(areaRemoveAccessWarn), unmapDrops: (meeting) => meeting.slice(0, 1) }));
}
