/**
 * access-unmap-cb-item-end-inclusive (drivers/iommu/iommufd/selftest.c
 * iommufd_test_access_unmap, the selftest access's ops->unmap; reached by
 * iommufd_access_notify_unmap (device.c) from IOMMU_IOAS_UNMAP of an area an
 * access pinned, by iommufd_access_change_ioas on ACCESS_REPLACE_IOAS / access
 * destroy, and by iommufd_test_staccess_release; 6.12 and 7.3).
 *
 * The kernel's code:
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
 * THE FAULT: the "item ends before the range" test is written with `>=`:
 *
 *             if (iova >= item->iova + item->length - 1 || ...
 *
 * so an item whose last byte is exactly the first byte of the notified range
 * is taken as disjoint and kept pinned.
 *
 * Observable: an item whose last byte is the notified IOVA (e.g. a 1-byte
 * ACCESS_PAGES at an area's first IOVA, or a pin whose last piece is one byte
 * into the next area) is never unpinned: iopt_unmap_iova_range keeps seeing
 * area->num_accesses, notifies 100 times and fails IOMMU_IOAS_UNMAP with
 * EDEADLOCK where the kernel unmaps; the pins (MD_CHECK_REFS) stay.
 *
 * Applied as: after the reference's IOMMU_TEST_OP_CREATE_ACCESS succeeds, the
 * new access's ops.unmap and the staccess file's release run a copy of
 * iommufd_test_access_unmap with the faulty test; all else is the reference.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation } from '../harness.ts';
import { IOMMU_TEST_OP_CREATE_ACCESS } from '../../../spec/uapi/constants.ts';
import { iommufdAccessDestroy, iommufdAccessUnpinPages } from '../../../impl/iommufd/access.ts';
import { SelftestAccess } from '../../../impl/iommufd/selftest.ts';
import { ULONG_MAX } from '../../../impl/iommufd/iommufd_private.ts';
import type { KFileOps } from '../../../impl/process/file.ts';

/** iommufd_test_access_unmap with the faulty `>=`. */
function faultyAccessUnmap(staccess: SelftestAccess, iova: bigint, length: bigint): void {
  const last = iova + length - 1n;
  for (const item of [...staccess.items]) {
    // THE FAULT: `>=` where the kernel has `>`.
    if (iova >= item.iova + item.length - 1n || last < item.iova) continue;
    staccess.items.splice(staccess.items.indexOf(item), 1);
    iommufdAccessUnpinPages(staccess.access!, item.iova, item.length);
  }
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('access-unmap-cb-item-end-inclusive', profile, {
    handlers: {
      IOMMU_TEST_CMD: (ucmd, original) => {
        const rc = original(ucmd);
        if (rc || ucmd.cmd.num('op') !== IOMMU_TEST_OP_CREATE_ACCESS) return rc;
        const file = ucmd.ctx.proc.fds.fget(ucmd.cmd.num('create_access.out_access_fd'));
        if (!file) return rc;
        const staccess = file.private_data;
        if (file.kind === 'selftest-access' && staccess instanceof SelftestAccess && staccess.access) {
          const access = staccess.access;
          const ops = { ...access.ops, unmap: (iova: bigint, length: bigint) => faultyAccessUnmap(staccess, iova, length) };
          Object.defineProperty(access, 'ops', { value: ops, writable: false, configurable: true, enumerable: true });
          // iommufd_test_staccess_release calls iommufd_test_access_unmap directly.
          const fops: KFileOps = {
            ...file.ops,
            release: () => {
              if (staccess.access) {
                faultyAccessUnmap(staccess, 0n, ULONG_MAX);
                iommufdAccessDestroy(staccess.access);
              }
            },
          };
          Object.defineProperty(file, 'ops', { value: fops, writable: false, configurable: true, enumerable: true });
        }
        file.put();
        return rc;
      },
    },
  });
}
