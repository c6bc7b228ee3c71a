/**
 * access-notify-unmap-no-put (drivers/iommu/iommufd/device.c,
 * iommufd_access_notify_unmap).
 *
 * When IOMMU_IOAS_UNMAP (iopt_unmap_iova_range) meets an area that in-kernel
 * accesses have pinned, it tells every access of the IOAS to unpin:
 *     xa_for_each(&ioas->iopt.access_list, index, access) {
 *             if (!iommufd_lock_obj(&access->obj))
 *                     continue;
 *             xa_unlock(&ioas->iopt.access_list);
 *             access->ops->unmap(access->data, iova, length);
 *             iommufd_put_object(access->ictx, &access->obj);
 *             xa_lock(&ioas->iopt.access_list);
 *     }
 * iommufd_lock_obj() takes a users and a shortterm_users reference so the
 * access cannot be destroyed while its callback runs; iommufd_put_object()
 * gives both back. The fault drops the iommufd_put_object(): every
 * notification leaves the access one users and one shortterm_users
 * reference higher.
 *
 * Nothing shows until the access goes away. iommufd_access_destroy() (the
 * driver closing it: here the release of the selftest access fd, after it
 * unpinned its items) calls iommufd_object_destroy_user() →
 * iommufd_object_remove(REMOVE_WAIT_SHORTTERM): shortterm_users never drops
 * to zero, the wait times out, the driver's users reference is put back and
 * the removal fails with EBUSY (WARN). The access object stays in the
 * context, still attached to its IOAS (holding the IOAS's users count and
 * its place in the IOAS's access list) and — since
 * iommufd_access_destroy_object() never runs — still holding the reference on
 * the iommufd file that iommufd_access_create() took (iommufd_ctx_get).
 *
 * Consequence for a user: once an unmap has had to notify an access, closing
 * the access fd and then /dev/iommu does not release the context: its IOAS,
 * its HWPTs and their domains, its mock devices stay, and every page they
 * pinned stays pinned and charged (RLIMIT_MEMLOCK, pinned_vm) for good; the
 * IOAS cannot be destroyed (EBUSY) while the file is still open either.
 *
 * Applied as: the access's notification (the IOAS calls access->ops->unmap
 * through it) takes the users reference and keeps it; the release of the
 * selftest access file is a copy of iommufd_test_staccess_release whose
 * iommufd_access_destroy fails as the kernel's does when a reference leaked.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { ULONG_MAX } from '../../../impl/iommufd/iommufd_private.ts';
import { iommufdAccessDestroy, iommufdAccessUnpinPages, type IommufdAccess } from '../../../impl/iommufd/access.ts';
import { SelftestAccess } from '../../../impl/iommufd/selftest.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';

/** iommufd_test_access_unmap: drop every item intersecting the range. */
function testAccessUnmap(staccess: SelftestAccess, iova: bigint, length: bigint): void {
  const last = iova + length - 1n;
  for (const item of [...staccess.items]) {
    if (iova > item.iova + item.length - 1n || last < item.iova) continue;
    staccess.items.splice(staccess.items.indexOf(item), 1);
    iommufdAccessUnpinPages(staccess.access!, item.iova, item.length);
  }
}

export function createAdapter(profile: Profile): Implementation {
  /** References each access leaked through its notifications. */
  const leaked = new WeakMap<IommufdAccess, number>();
  return mutantImplementation('access-notify-unmap-no-put', profile, {
    object: (obj) => {
      if (obj.type !== 'ACCESS') return;
      const access = obj as IommufdAccess;
      patchOwn(access, 'notifyUnmap', (notify) => (iova: bigint, length: bigint) => {
        // iommufd_lock_obj(): refcount_inc_not_zero(&obj->users) (and shortterm_users)
        if (access.users === 0) return;
        access.users++;
        leaked.set(access, (leaked.get(access) ?? 0) + 1);
        notify(iova, length);
        // THE FAULT: no iommufd_put_object(access->ictx, &access->obj)
      });
    },
    process: (proc) => {
      patchOwn(proc.fds, 'fdInstall', (fdInstall) => (fd, file) => {
        if (file.kind === 'selftest-access' && file.private_data instanceof SelftestAccess) {
          const staccess = file.private_data;
          // iommufd_test_staccess_release
          const release = (): void => {
            const access = staccess.access;
            if (!access) return;
            testAccessUnmap(staccess, 0n, ULONG_MAX);
            if (!leaked.get(access)) {
              iommufdAccessDestroy(access);
              return;
            }
            // iommufd_object_destroy_user → iommufd_object_remove(.., REMOVE_WAIT_SHORTTERM):
            // shortterm_users stays raised, the wait times out, "put back the callers
            // reference and defer cleaning this object until close": users--, -EBUSY, WARN_ON.
            access.users--;
            access.ctx.warnings.push(`iommufd_object_destroy_user: access ${access.id} still has users ${access.users} (EBUSY)`);
          };
          Object.defineProperty(file, 'ops', { value: { ...file.ops, release }, writable: false, configurable: true, enumerable: true });
        }
        fdInstall(fd, file);
      });
    },
  });
}
