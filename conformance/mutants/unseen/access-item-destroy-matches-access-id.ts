/**
 * access-item-destroy-matches-access-id (drivers/iommu/iommufd/selftest.c
 * iommufd_test_access_item_destroy; reached by IOMMU_TEST_CMD
 * IOMMU_TEST_OP_DESTROY_ACCESS_PAGES; 6.12 and 7.3).
 *
 * The kernel's code:
 *
 *     static int iommufd_test_access_item_destroy(struct iommufd_ucmd *ucmd,
 *                                                 unsigned int access_id,
 *                                                 unsigned int item_id)
 *     {
 *             ...
 *             staccess = iommufd_access_get(access_id);
 *             ...
 *             list_for_each_entry(item, &staccess->items, items_elm) {
 *                     if (item->id == item_id) {
 *                             list_del(&item->items_elm);
 *                             iommufd_access_unpin_pages(staccess->access,
 *                                                        item->iova, item->length);
 *                             ...
 *                             return 0;
 *                     }
 *             }
 *             ...
 *             return -ENOENT;
 *
 * THE FAULT: wrong variable in the match: `if (item->id == access_id)`.
 *
 * Observable: DESTROY_ACCESS_PAGES answers ENOENT for an existing item (its
 * pins stay: MD_CHECK_REFS, unmap notifications) unless some item's id
 * happens to equal the access fd number, in which case that other item is
 * unpinned and destroyed instead of the one named.
 *
 * Applied as: IOMMU_TEST_OP_DESTROY_ACCESS_PAGES runs a copy of
 * iommufd_test_access_item_destroy with the faulty match; other ops are the reference's.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation } from '../harness.ts';
import { IOMMU_TEST_OP_DESTROY_ACCESS_PAGES } from '../../../spec/uapi/constants.ts';
import { EBADFD, ENOENT } from '../../../impl/lib/errno.ts';
import { iommufdAccessUnpinPages } from '../../../impl/iommufd/access.ts';
import { SelftestAccess } from '../../../impl/iommufd/selftest.ts';
import type { Ucmd } from '../../../impl/iommufd/iommufd_private.ts';

function faultyItemDestroy(ucmd: Ucmd): number {
  const accessId = ucmd.cmd.num('id');
  // iommufd_access_get
  const file = ucmd.ctx.proc.fds.fget(accessId);
  if (!file) return -EBADFD;
  const staccess = file.private_data;
  if (file.kind !== 'selftest-access' || !(staccess instanceof SelftestAccess)) {
    file.put();
    return -EBADFD;
  }
  // THE FAULT: matches access_id where the kernel matches item_id.
  const item = staccess.items.find((i) => i.id === accessId);
  if (!item) {
    file.put();
    return -ENOENT;
  }
  staccess.items.splice(staccess.items.indexOf(item), 1);
  iommufdAccessUnpinPages(staccess.access!, item.iova, item.length);
  file.put();
  return 0;
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('access-item-destroy-matches-access-id', profile, {
    handlers: {
      IOMMU_TEST_CMD: (ucmd, original) => (ucmd.cmd.num('op') === IOMMU_TEST_OP_DESTROY_ACCESS_PAGES ? faultyItemDestroy(ucmd) : original(ucmd)),
    },
  });
}
