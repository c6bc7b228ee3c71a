/**
 * Round 6a fault (object ids, xarray): _iommufd_object_alloc
 * (drivers/iommu/iommufd/main.c) allocates ids cyclically:
 *
 *     rc = xa_alloc_cyclic(&ictx->objects, &obj->id, XA_ZERO_ENTRY,
 *                          xa_limit_31b, &ictx->next_id, GFP_KERNEL_ACCOUNT);
 *     // should be xa_alloc(&ictx->objects, &obj->id, XA_ZERO_ENTRY, xa_limit_31b, ...)
 *
 * (a "don't hand a destroyed id straight back, so stale ids fail" change),
 * so an id freed by IOMMU_DESTROY, an unbind, an aborted allocation or an
 * auto-domain self-destruct is not reused until the 31-bit space wraps:
 * every new object gets one more than the last id handed out, not the lowest
 * free one.
 *
 * Consequence: the uAPI numbering userspace and the selftests rely on
 * (lowest free id from 1: a new IOAS after destroying IOAS 1 is 1 again;
 * MOCK_DOMAIN in a fresh ctx gives stdev 2, idev 3, hwpt 4 after any earlier
 * destroy) breaks, and an aborted allocation (a failed HWPT_ALLOC, a failed
 * bind) now shifts every later id.
 *
 * Applied as: each iommufd context's object table allocates from a cursor
 * past the last id it allocated (wrapping to 1).
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { ObjectTable } from '../../../impl/iommufd/object.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('objects-id-cyclic', profile, {
    ctx: (ctx) => {
      const objects = ctx.objects;
      let next = 1;
      patchOwn(objects, 'allocId', (allocId) => () => {
        for (let id = next; id <= ObjectTable.ID_LIMIT; id++) {
          if (!objects.has(id)) {
            (objects as unknown as { slots: Map<number, unknown> }).slots.set(id, null); // XA_ZERO_ENTRY, as allocId reserves it
            next = id + 1;
            return id;
          }
        }
        const id = allocId(); // wrapped: the lowest free from 1
        next = id + 1;
        return id;
      });
    },
  });
}
