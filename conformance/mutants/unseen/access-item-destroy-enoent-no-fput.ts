/**
 * access-item-destroy-enoent-no-fput (iommufd_test_access_item_destroy,
 * drivers/iommu/iommufd/selftest.c; reached by
 * IOMMU_TEST_OP_DESTROY_ACCESS_PAGES naming an item the access does not
 * hold; 6.12 and 7.3).
 *
 * The kernel's code (6.12 and 7.3 alike):
 *
 *     staccess = iommufd_access_get(access_id);      // fget(fd)
 *     if (IS_ERR(staccess))
 *             return PTR_ERR(staccess);
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
 *     mutex_unlock(&staccess->lock);
 *     fput(staccess->file);
 *     return -ENOENT;
 *
 * Both exits drop the file reference iommufd_access_get took.
 *
 * The fault: the not-found exit loses its fput (the early return inside the
 * loop has its own fput, the fall-through one is forgotten):
 *
 *     mutex_unlock(&staccess->lock);
 *     return -ENOENT;
 *
 * Observable: the answer is still ENOENT, but every such call leaks one
 * reference on the access's file. Closing the access fd then never runs
 * iommufd_test_staccess_release: the access is not destroyed, stays
 * attached to its IOAS (IOMMU_DESTROY of that IOAS answers EBUSY, and its
 * pins, if any, are kept), and it keeps its iommufd_ctx_get on the iommufd
 * file — closing the iommufd fd then never releases the context, so every
 * mapping's pinned pages and their locked_vm charge outlive both fds.
 *
 * Applied as: IOMMU_TEST_OP_DESTROY_ACCESS_PAGES runs a copy of
 * iommufd_test_access_item_destroy whose ENOENT exit keeps the file
 * reference; every other test op is the reference's.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { EBADFD, ENOENT } from '../../../impl/lib/errno.ts';
import { IOMMU_TEST_OP_DESTROY_ACCESS_PAGES } from '../../../spec/uapi/constants.ts';
import type { Ucmd } from '../../../impl/iommufd/iommufd_private.ts';
import { SelftestAccess } from '../../../impl/iommufd/selftest.ts';
import { iommufdAccessUnpinPages } from '../../../impl/iommufd/access.ts';
import { mutantImplementation } from '../harness.ts';

/** iommufd_test_access_item_destroy with THE FAULT: the ENOENT exit does not fput the access file. */
function testAccessItemDestroy(ucmd: Ucmd): number {
  const { cmd, ctx } = ucmd;
  // iommufd_access_get: fget, and fput again unless it is a selftest access file.
  const file = ctx.proc.fds.fget(cmd.num('id'));
  if (!file) return -EBADFD;
  if (file.kind !== 'selftest-access' || !(file.private_data instanceof SelftestAccess)) {
    file.put();
    return -EBADFD;
  }
  const staccess = file.private_data;
  const itemId = cmd.num('destroy_access_pages.access_pages_id');
  const item = staccess.items.find((i) => i.id === itemId);
  if (item) {
    staccess.items.splice(staccess.items.indexOf(item), 1);
    iommufdAccessUnpinPages(staccess.access!, item.iova, item.length);
    file.put();
    return 0;
  }
  return -ENOENT; // THE FAULT: fput(staccess->file) lost
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('access-item-destroy-enoent-no-fput', profile, {
    handlers: {
      IOMMU_TEST_CMD: (ucmd, original) => (ucmd.cmd.num('op') === IOMMU_TEST_OP_DESTROY_ACCESS_PAGES ? testAccessItemDestroy(ucmd) : original(ucmd)),
    },
  });
}
