/**
 * access-replace-keeps-ioas-unpin (drivers/iommu/iommufd/device.c
 * iommufd_access_change_ioas, 6.12 and 7.3).
 *
 * An access carries two IOAS pointers: access->ioas, which new pins use and
 * which is NULL while the IOAS changes, and access->ioas_unpin, which
 * iommufd_access_unpin_pages() uses so that the driver's unmap callback can
 * still give back the old pins during the change. The change ends with both
 * pointing at the new IOAS:
 *
 *     if (cur_ioas) {
 *             ...
 *             access->ops->unmap(access->data, 0, ULONG_MAX);
 *             ...
 *             iopt_remove_access(&cur_ioas->iopt, access, iopt_access_list_id);
 *             refcount_dec(&cur_ioas->obj.users);
 *     }
 *
 *     access->ioas = new_ioas;
 *     access->ioas_unpin = new_ioas;
 *
 * The fault sets ioas_unpin only on the first attach, as if it were the
 * "pin-time IOAS" that unpins must keep using across a replace:
 *
 *     access->ioas = new_ioas;
 *     if (!cur_ioas)
 *             access->ioas_unpin = new_ioas;
 *
 * A first attach and the unmap callback of the replace itself still work,
 * so IOMMU_TEST_OP_ACCESS_REPLACE_IOAS succeeds and looks right. Everything
 * after it goes wrong, on two IOASes at once:
 *   - pins taken in the new IOAS (IOMMU_TEST_OP_ACCESS_PAGES) are given back
 *     (DESTROY_ACCESS_PAGES, the unmap notifier, closing the access) through
 *     the old IOAS's areas: where the old IOAS maps nothing at that IOVA the
 *     unpin WARNs and drops nothing, so the new IOAS's pages stay pinned and
 *     charged with num_accesses > 0 and its IOMMU_IOAS_UNMAP of them spins
 *     on the notifier and fails with EDEADLOCK; where the old IOAS has an
 *     area sharing the same iopt_pages (IOMMU_IOAS_COPY), another user's
 *     pin is dropped instead;
 *   - the "racing with a concurrent detach" test (cur_ioas !=
 *     access->ioas_unpin) now always fires: a second
 *     IOMMU_TEST_OP_ACCESS_REPLACE_IOAS (even back to the first IOAS) fails
 *     with EBUSY, and the access's destroy WARNs and leaves the new IOAS
 *     with the dead access in its access_list and its users reference: the
 *     IOAS cannot be destroyed (EBUSY), keeps the PAGE_SIZE alignment of the
 *     dead access, and closing the iommufd cannot free it
 *     (iommufd_fops_release WARN_ON(!destroyed)), so what it pins stays
 *     pinned after close.
 *
 * Applied as: each ACCESS object's ioas_unpin keeps its first non-NULL value
 * (an own accessor); its destroy WARNs instead of asserting when
 * iommufd_access_change_ioas() refuses (the kernel's
 * WARN_ON(iommufd_access_change_ioas(access, NULL)) followed by
 * iommufd_ctx_put); and the selftest access's unpins run the kernel's
 * iommufd_access_unpin_pages / iopt_area_remove_access, which WARN and skip
 * an index range with no matching iopt_pages_access (the reference asserts).
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation } from '../harness.ts';
import { iommufdAccessChangeIoas, type IommufdAccess } from '../../../impl/iommufd/access.ts';
import type { IommufdIoas } from '../../../impl/iommufd/iommufd_private.ts';
import { accessUnpinHooks, accessUnpinPagesWith, areaRemoveAccessWarn } from './_access_pages.ts';
import { patchAccessDestroy } from './_access_change.ts';

export function createAdapter(profile: Profile): Implementation {
  const unpin = accessUnpinHooks({ unpinPages: accessUnpinPagesWith(areaRemoveAccessWarn) });
  return mutantImplementation('access-replace-keeps-ioas-unpin', profile, {
    handlers: unpin.handlers,
    process: unpin.process,
    object: (obj, ctx, env) => {
      unpin.object?.(obj, ctx, env);
      if (obj.type !== 'ACCESS') return;
      const access = obj as IommufdAccess;
      let ioasUnpin: IommufdIoas | null = access.ioasUnpin;
      Object.defineProperty(access, 'ioasUnpin', {
        configurable: true,
        enumerable: true,
        get: () => ioasUnpin,
        set: (v: IommufdIoas | null) => {
          // THE FAULT: `if (!cur_ioas) access->ioas_unpin = new_ioas;` (cur_ioas == ioas_unpin here).
          if (ioasUnpin === null) ioasUnpin = v;
        },
      });
      patchAccessDestroy(access, iommufdAccessChangeIoas);
    },
  });
}
