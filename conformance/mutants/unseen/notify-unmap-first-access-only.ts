/**
 * notify-unmap-first-access-only (drivers/iommu/iommufd/device.c,
 * iommufd_access_notify_unmap; called by io_pagetable.c
 * iopt_unmap_iova_range for an area that in-kernel accesses pin).
 *
 * The kernel tells every access of the IOAS to let go of the range:
 *
 *     xa_lock(&ioas->iopt.access_list);
 *     xa_for_each(&ioas->iopt.access_list, index, access) {
 *             if (!iommufd_lock_obj(&access->obj))
 *                     continue;
 *             xa_unlock(&ioas->iopt.access_list);
 *
 *             access->ops->unmap(access->data, iova, length);
 *
 *             iommufd_put_object(access->ictx, &access->obj);
 *             xa_lock(&ioas->iopt.access_list);
 *     }
 *     xa_unlock(&ioas->iopt.access_list);
 *
 * THE FAULT: the loop stops after the first access it called back
 * (`break;` after re-taking the lock). It reads like caution -- the
 * access_list may have changed while the lock was dropped, and the caller,
 * iopt_unmap_iova_range, re-checks area->num_accesses and calls again
 * (`goto again`, up to 100 tries) -- so the author trusted the retry to reach
 * the others. But xa_for_each starts from index 0 on every call: each retry
 * notifies the same lowest-index access again and never reaches the second.
 *
 * With one access per IOAS (every selftest in the kernel tree) nothing
 * changes. With two accesses attached to one IOAS where the access in the
 * higher access_list slot holds pins in the area being unmapped, the unmap
 * spins 100 times and fails with EDEADLOCK (WARN): the area stays mapped
 * with prevent_access set, so every later pin or rw through it -- by either
 * access -- is refused with EINVAL, and the second access's pins stay. The
 * kernel unmaps the area and the second access's driver drops its pins.
 *
 * Applied as: each access's notification (iommufd_access_notify_unmap calls
 * access->ops->unmap through it) acts only for the access in the lowest
 * occupied slot of its IOAS's access_list, as the broken loop does.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import type { IommufdAccess } from '../../../impl/iommufd/access.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('notify-unmap-first-access-only', profile, {
    object: (obj) => {
      if (obj.type !== 'ACCESS') return;
      const access = obj as IommufdAccess;
      patchOwn(access, 'notifyUnmap', (notify) => (iova: bigint, length: bigint) => {
        const iopt = access.ioas?.iopt;
        if (!iopt) return notify(iova, length);
        // xa_for_each visits indices in order; the faulty loop breaks after the first.
        const first = Math.min(...iopt.accessList.keys());
        if (iopt.accessList.get(first) !== access) return; // THE FAULT: never reached
        notify(iova, length);
      });
    },
  });
}
