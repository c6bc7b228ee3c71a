/**
 * staccess-release-skips-access-destroy (drivers/iommu/iommufd/selftest.c
 * iommufd_test_staccess_release: the release of an IOMMU_TEST_OP_CREATE_ACCESS
 * fd; 6.12 and 7.3).
 *
 * The kernel's code:
 *
 *     static int iommufd_test_staccess_release(struct inode *inode,
 *                                              struct file *filep)
 *     {
 *             struct selftest_access *staccess = filep->private_data;
 *
 *             if (staccess->access) {
 *                     iommufd_test_access_unmap(staccess, 0, ULONG_MAX);
 *                     iommufd_access_destroy(staccess->access);
 *             }
 *             mutex_destroy(&staccess->lock);
 *             kfree(staccess);
 *             return 0;
 *     }
 *
 * THE FAULT: the iommufd_access_destroy() line is lost (the items are unpinned,
 * the access object is not destroyed): the driver's reference on the access
 * object, the access's reference on its IOAS, its slot in the IOAS's access
 * list and its iommufd_ctx_get() all leak when the access fd is closed.
 *
 * Observable: after closing the access fd, IOMMU_DESTROY of the IOAS it was
 * attached to answers EBUSY where the kernel answers 0 (and the access's own
 * object id stays taken: a later object gets the next id). Pins are not
 * leaked (the item unmap still runs).
 *
 * Applied as: the release of every selftest access file the process installs
 * is replaced by a copy of iommufd_test_staccess_release with the line lost.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { iommufdAccessUnpinPages } from '../../../impl/iommufd/access.ts';
import { SelftestAccess } from '../../../impl/iommufd/selftest.ts';
import type { KFileOps } from '../../../impl/process/file.ts';
import { ULONG_MAX } from '../../../impl/iommufd/iommufd_private.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';

/** iommufd_test_access_unmap, as the reference has it. */
function accessUnmap(staccess: SelftestAccess, iova: bigint, length: bigint): void {
  const last = iova + length - 1n;
  for (const item of [...staccess.items]) {
    if (iova > item.iova + item.length - 1n || last < item.iova) continue;
    staccess.items.splice(staccess.items.indexOf(item), 1);
    iommufdAccessUnpinPages(staccess.access!, item.iova, item.length);
  }
}

/** iommufd_test_staccess_release with THE FAULT. */
function staccessRelease(staccess: SelftestAccess): void {
  if (staccess.access) {
    accessUnmap(staccess, 0n, ULONG_MAX);
    // iommufd_access_destroy(staccess->access);  -- lost
  }
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('staccess-release-skips-access-destroy', profile, {
    process: (proc) => {
      patchOwn(proc.fds, 'fdInstall', (fdInstall) => (fd, file) => {
        if (file.kind === 'selftest-access' && file.private_data instanceof SelftestAccess) {
          const staccess = file.private_data;
          const ops: KFileOps = { ...file.ops, release: () => staccessRelease(staccess) };
          Object.defineProperty(file, 'ops', { value: ops, writable: false, configurable: true, enumerable: true });
        }
        fdInstall(fd, file);
      });
    },
  });
}
