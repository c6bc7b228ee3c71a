/**
 * access-unmap-cb-contained-only (drivers/iommu/iommufd/selftest.c
 * iommufd_test_access_unmap: the selftest access driver's ops->unmap, called
 * by iommufd_access_notify_unmap from iopt_unmap_iova_range, once per area
 * that has accesses, with that area's range; and by
 * iommufd_access_change_ioas with (0, ULONG_MAX)).
 *
 * The contract (device.c, iommufd_access_notify_unmap): "After this function
 * returns there should be no users attached to the pages linked to this
 * iopt that intersect with iova,length." The kernel's driver drops every
 * pinned item that intersects the range:
 *
 *     unsigned long iova_last = iova + length - 1;
 *     ...
 *     list_for_each_entry_safe(item, tmp, &staccess->items, items_elm) {
 *             if (iova > item->iova + item->length - 1 ||
 *                 iova_last < item->iova)
 *                     continue;
 *             list_del(&item->items_elm);
 *             iommufd_access_unpin_pages(staccess->access, item->iova,
 *                                        item->length);
 *             kfree(item);
 *     }
 *
 * THE FAULT: the driver drops only the items the range *contains* — the
 * classic "is this mapping inside the range being invalidated" test an
 * mdev driver writes when it thinks of unmap as the inverse of the map
 * that created its pins:
 *
 *             if (item->iova < iova ||
 *                 item->iova + item->length - 1 > iova_last)
 *                     continue;
 *
 * Every pin inside one area, every IOAS change (0, ULONG_MAX) and the
 * release behave as before. But a pin that spans two IOVA-contiguous areas
 * (ACCESS_PAGES across the boundary of two IOAS_MAPs or COPYs, which
 * iommufd_access_pin_pages allows when the boundary is page aligned) is
 * contained in neither area's notification: unmapping either area — or
 * both at once, or IOMMU_IOAS_UNMAP of everything, since the core
 * notifies per area — leaves area->num_accesses raised, retries 100 times
 * and fails with EDEADLOCK (kernel: the item is dropped, its pages
 * unpinned, the unmap succeeds). The area stays mapped, prevent_access is
 * left set on it (later ACCESS_RW / ACCESS_PAGES of it: EINVAL), the pin
 * stays (pin_count, MD_CHECK_REFS, locked_vm), and the item is still the
 * driver's (DESTROY_ACCESS_PAGES of it: 0 instead of ENOENT).
 *
 * Applied as: the access's ops->unmap (iommufd_test_access_unmap) is
 * replaced by the faulty copy for every selftest access; the file release
 * keeps the reference's (its range (0, ULONG_MAX) contains every item).
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';
import { iommufdAccessUnpinPages, type IommufdAccess } from '../../../impl/iommufd/access.ts';
import { SelftestAccess } from '../../../impl/iommufd/selftest.ts';

/** iommufd_test_access_unmap with THE FAULT: only the items inside [iova, iova + length - 1] are dropped. */
function testAccessUnmapContained(staccess: SelftestAccess, iova: bigint, length: bigint): void {
  const last = iova + length - 1n;
  for (const item of [...staccess.items]) {
    if (item.iova < iova || item.iova + item.length - 1n > last) continue;
    staccess.items.splice(staccess.items.indexOf(item), 1);
    iommufdAccessUnpinPages(staccess.access!, item.iova, item.length);
  }
}

export function createAdapter(profile: Profile): Implementation {
  /** The selftest access each access object belongs to (known once its fd is installed). */
  const staccessOf = new WeakMap<IommufdAccess, SelftestAccess>();
  return mutantImplementation('access-unmap-cb-contained-only', profile, {
    object: (obj) => {
      if (obj.type !== 'ACCESS') return;
      const access = obj as IommufdAccess;
      patchOwn(access.ops, 'unmap', (original) => (iova: bigint, length: bigint) => {
        const staccess = staccessOf.get(access);
        if (staccess) testAccessUnmapContained(staccess, iova, length);
        else original(iova, length);
      });
    },
    process: (proc) => {
      patchOwn(proc.fds, 'fdInstall', (fdInstall) => (fd, file) => {
        if (file.kind === 'selftest-access' && file.private_data instanceof SelftestAccess && file.private_data.access) {
          staccessOf.set(file.private_data.access, file.private_data);
        }
        fdInstall(fd, file);
      });
    },
  });
}
