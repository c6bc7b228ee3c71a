/**
 * Round 6a fault (access lifetime): iommufd_access_destroy_object
 * (drivers/iommu/iommufd/device.c) no longer leaves the IOAS. When the
 * detach was factored into iommufd_access_detach(), the destroy path was left
 * with only the context put:
 *
 *     void iommufd_access_destroy_object(struct iommufd_object *obj)
 *     {
 *         struct iommufd_access *access = container_of(obj, ...);
 *
 *         mutex_lock(&access->ioas_lock);
 *         // lost: if (access->ioas) WARN_ON(iommufd_access_change_ioas(access, NULL));
 *         mutex_unlock(&access->ioas_lock);
 *         iommufd_ctx_put(access->ictx);
 *     }
 *
 * so an access destroyed while attached (a mdev/selftest access whose file
 * is closed without an explicit detach) keeps its reference on the IOAS and
 * its slot in iopt->access_list.
 *
 * Consequence: after closing a selftest access fd, IOMMU_DESTROY of its IOAS
 * is EBUSY forever; the IOAS still honours the dead access's IOVA alignment;
 * every IOAS_UNMAP still calls the freed access's unmap op; and closing the
 * iommufd cannot free the IOAS (users 2: iommufd_fops_release's
 * WARN_ON(!destroyed)), so its mappings stay pinned and charged to the
 * process.
 *
 * Applied as: each ACCESS object's destroy does only the context put.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('access-destroy-skips-detach', profile, {
    object: (obj, ctx) => {
      if (obj.type !== 'ACCESS') return;
      patchOwn(obj, 'destroy', () => () => {
        ctx.file?.put(); // iommufd_ctx_put, the change_ioas(NULL) lost
      });
    },
  });
}
