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
import { ENOENT } from '../../../impl/lib/errno.ts';
import { ULONG_MAX } from '../../../impl/iommufd/iommufd_private.ts';
import { iommufdAccessDestroy, type IommufdAccess } from '../../../impl/iommufd/access.ts';
import { SelftestAccess } from '../../../impl/iommufd/selftest.ts';
import { IOMMU_TEST_OP_ACCESS_PAGES, IOMMU_TEST_OP_DESTROY_ACCESS_PAGES } from '../../../spec/uapi/constants.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';
import { accessGet, accessPagesHandler, accessUnpinPagesWith, areaRemoveAccessWarn } from './_access_pages.ts';

const unpinPages = accessUnpinPagesWith(areaRemoveAccessWarn);

/** iommufd_test_access_unmap with THE FAULT: it returns after the first item it drops. */
function testAccessUnmapFirstOnly(staccess: SelftestAccess, iova: bigint, length: bigint): void {
  const last = iova + length - 1n;
  for (const item of staccess.items) {
    if (iova > item.iova + item.length - 1n || last < item.iova) continue;
    staccess.items.splice(staccess.items.indexOf(item), 1);
    unpinPages(staccess.access!, item.iova, item.length);
    break; // THE FAULT
  }
}

export function createAdapter(profile: Profile): Implementation {
  const testAccessPages = accessPagesHandler({ unpinPages });
  const staccessOf = new WeakMap<IommufdAccess, SelftestAccess>();
  return mutantImplementation('access-unmap-cb-first-item-only', profile, {
    handlers: {
      IOMMU_TEST_CMD: (ucmd, original) => {
        const op = ucmd.cmd.num('op');
        if (op === IOMMU_TEST_OP_ACCESS_PAGES) return testAccessPages(ucmd);
        if (op !== IOMMU_TEST_OP_DESTROY_ACCESS_PAGES) return original(ucmd);
        // iommufd_test_access_item_destroy
        const g = accessGet(ucmd, ucmd.cmd.num('id'));
        if (g.errno) return g.errno;
        try {
          const staccess = g.staccess!;
          const itemId = ucmd.cmd.num('destroy_access_pages.access_pages_id');
          const item = staccess.items.find((i) => i.id === itemId);
          if (!item) return -ENOENT;
          staccess.items.splice(staccess.items.indexOf(item), 1);
          unpinPages(staccess.access!, item.iova, item.length);
          return 0;
        } finally {
          g.file!.put();
        }
      },
    },
    // access->ops->unmap: unmap notifications and IOAS changes (replace, destroy).
    object: (obj) => {
      if (obj.type !== 'ACCESS') return;
      const access = obj as IommufdAccess;
      patchOwn(access.ops, 'unmap', () => (iova: bigint, length: bigint) => {
        const staccess = staccessOf.get(access);
        if (staccess) testAccessUnmapFirstOnly(staccess, iova, length);
      });
    },
    // iommufd_test_staccess_release: the (faulty) callback over everything, then iommufd_access_destroy.
    process: (proc) => {
      patchOwn(proc.fds, 'fdInstall', (fdInstall) => (fd, file) => {
        if (file.kind === 'selftest-access' && file.private_data instanceof SelftestAccess) {
          const staccess = file.private_data;
          if (staccess.access) staccessOf.set(staccess.access, staccess);
          const release = (): void => {
            if (!staccess.access) return;
            testAccessUnmapFirstOnly(staccess, 0n, ULONG_MAX);
            iommufdAccessDestroy(staccess.access);
          };
          Object.defineProperty(file, 'ops', { value: { ...file.ops, release }, writable: false, configurable: true, enumerable: true });
        }
        fdInstall(fd, file);
      });
    },
  });
}
