/**
 * Round 6a fault (object ids, abort): iommufd_object_abort
 * (drivers/iommu/iommufd/main.c) releases the reserved id of an object that
 * was never finalized with a cmpxchg against the wrong old value:
 *
 *     old = xa_cmpxchg(&ictx->objects, obj->id, obj, NULL, 0);   // should be XA_ZERO_ENTRY
 *     WARN_ON(old != XA_ZERO_ENTRY);
 *
 * The slot still holds the XA_ZERO_ENTRY reservation, never `obj`, so the
 * cmpxchg never matches and the id stays reserved for the life of the
 * context (the WARN fires, but the code goes on to free the object).
 *
 * Consequence: every failed object-creating ioctl that got as far as the id
 * (IOMMU_HWPT_ALLOC refused by the driver or by a bad fault_id, an attach
 * through an IOAS whose new auto domain is refused, a selftest MOCK_DOMAIN
 * onto a bad id, an access or VFIO bind that fails after the object alloc)
 * burns an id: the next object gets a higher id than the lowest free one,
 * IOMMU_DESTROY of the burnt id is ENOENT, and the context's objects xarray
 * is never empty again, so IOMMU_OPTION(RLIMIT_MODE, SET) is EBUSY for the
 * rest of the context's life although it owns no object.
 *
 * Applied as: erasing a slot that is only reserved (no object stored) does
 * nothing; erasing a finalized object's slot works.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('abort-keeps-id', profile, {
    ctx: (ctx) => {
      const objects = ctx.objects;
      patchOwn(objects, 'erase', (erase) => (id) => {
        if (objects.has(id) && !objects.load(id)) return; // the cmpxchg that never matches
        erase(id);
      });
    },
  });
}
