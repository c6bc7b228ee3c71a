/**
 * access-unmap-cb-last-exclusive (drivers/iommu/iommufd/selftest.c
 * iommufd_test_access_unmap: the selftest access's ops->unmap, the callback
 * iommufd_access_notify_unmap calls when IOMMU_IOAS_UNMAP meets an area the
 * access has pinned; a mediated driver's unmap callback is the same code).
 *
 * The driver must drop (unpin) every pin of its own that intersects the
 * range being unmapped, and only those:
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
 * THE FAULT is the inclusive/exclusive slip on the range's end:
 *
 *     unsigned long iova_last = iova + length;
 *
 * The callback's range now reaches one byte past the area being unmapped
 * (iopt_unmap_iova_range notifies per area: iova = the area's first IOVA,
 * length = the area's length), so a pin that starts exactly at the next
 * IOVA — the first page of the following, contiguous area — is taken for
 * one inside the unmapped area and dropped as well.
 *
 * Why it needs several commands and two objects: two contiguous areas (two
 * maps), a pin of the access in the first one (so that unmapping it notifies
 * the access at all) and a pin that starts at the first IOVA of the second
 * one; then the unmap of the first area. The unmap answers correctly; the
 * second area, which nobody asked to unmap, loses the access's pin.
 *
 * Consequence for a user: the mediated/emulated device's pin of the second
 * mapping vanishes behind its back: its pages are unpinned (pin counts,
 * VmPin) while the IOVA is still mapped and the device still believes it
 * holds them, and releasing that pin later
 * (IOMMU_TEST_OP_DESTROY_ACCESS_PAGES) fails with ENOENT. An unmap of an
 * area at the top of the address space wraps iova_last to 0 and unpins
 * nothing, so that unmap fails with EDEADLOCK after a hundred notifications.
 *
 * Applied as: each access's ops->unmap is a copy of iommufd_test_access_unmap
 * with iova_last = iova + length (64-bit wrap kept); the selftest file's
 * release, which calls the function directly with (0, ULONG_MAX), is
 * unaffected by the slip and left as the reference's.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { iommufdAccessUnpinPages, type IommufdAccess } from '../../../impl/iommufd/access.ts';
import { SelftestAccess } from '../../../impl/iommufd/selftest.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';

/** iommufd_test_access_unmap with the fault. */
function testAccessUnmap(staccess: SelftestAccess, iova: bigint, length: bigint): void {
  // THE FAULT: iova + length, not iova + length - 1 (unsigned long: wraps).
  const last = BigInt.asUintN(64, iova + length);
  for (const item of [...staccess.items]) {
    if (iova > item.iova + item.length - 1n || last < item.iova) continue;
    staccess.items.splice(staccess.items.indexOf(item), 1);
    iommufdAccessUnpinPages(staccess.access!, item.iova, item.length);
  }
}

export function createAdapter(profile: Profile): Implementation {
  /** The selftest access each access object belongs to (known once its fd is installed). */
  const staccessOf = new WeakMap<IommufdAccess, SelftestAccess>();
  return mutantImplementation('access-unmap-cb-last-exclusive', profile, {
    object: (obj) => {
      if (obj.type !== 'ACCESS') return;
      const access = obj as IommufdAccess;
      patchOwn(access.ops, 'unmap', (unmap) => (iova: bigint, length: bigint) => {
        const staccess = staccessOf.get(access);
        // Not yet installed (CREATE_ACCESS's own unwind): no items to drop either way.
        if (!staccess) return unmap(iova, length);
        testAccessUnmap(staccess, iova, length);
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
