/**
 * destroy-busy-drops-user-ref (drivers/iommu/iommufd/main.c
 * iommufd_object_remove, reached by IOMMU_DESTROY through iommufd_destroy;
 * 6.12 and 7.3).
 *
 * The kernel's code (6.12; 7.3 is the same but for the wait_cnt naming):
 *
 *     xa_lock(&ictx->objects);
 *     obj = xas_load(&xas);
 *     if (to_destroy) {
 *             ...
 *     } else if (xa_is_zero(obj) || !obj) {
 *             ret = -ENOENT;
 *             goto err_xa;
 *     }
 *
 *     if (!refcount_dec_if_one(&obj->users)) {
 *             ret = -EBUSY;
 *             goto err_xa;
 *     }
 *
 *     xas_store(&xas, NULL);
 *     if (ictx->vfio_ioas && &ictx->vfio_ioas->obj == obj)
 *             ictx->vfio_ioas = NULL;
 *     xa_unlock(&ictx->objects);
 *     ...
 *     iommufd_object_ops[obj->type].destroy(obj);
 *     kfree(obj);
 *
 * refcount_dec_if_one() is a cmpxchg 1 -> 0: when any other user holds the
 * object (a HWPT holds its IOAS, an access holds its IOAS, an attached HWPT
 * is held by its devices, a device is held by its driver) it changes
 * nothing and the destroy is EBUSY.
 *
 * The fault: the refcount helper is mixed up with its more common sibling,
 *
 *     if (!refcount_dec_and_test(&obj->users)) {
 *             ret = -EBUSY;
 *             goto err_xa;
 *     }
 *
 * which answers identically for a lone object (1 -> 0, destroyed) and for a
 * busy one (EBUSY) -- so every single IOMMU_DESTROY still gives the kernel's
 * answer -- but each EBUSY now takes one of the users references away from
 * whoever holds it. A later IOMMU_DESTROY of the same still-referenced object
 * then reaches zero and frees it under its holder: an IOAS destroyed (every
 * area unmapped from the domains, its id gone and reusable) while a HWPT, an
 * attached device or an access still uses it; a HWPT destroyed while devices
 * are attached to it; a device object destroyed (its DMA ownership
 * released) while its driver still has it bound. If instead the holder drops
 * its reference first, the count underflows: refcount_t saturates
 * (refcount_warn_saturate) and the object can never be destroyed again
 * (IOMMU_DESTROY EBUSY for ever, and iommufd_fops_release WARNs and leaks it
 * with everything it pins).
 *
 * Model: the kernel's count of an object is the reference's users minus the
 * references stolen by faulty EBUSYs. Once one is stolen the object's users
 * is read through a large bias (saturation: the holders' later
 * refcount_dec/refcount_inc no longer underflow, and nothing but this
 * IOMMU_DESTROY frees it: iommufd_fops_release's and
 * iommufd_object_destroy_user's "users == 1" never holds again, as for a
 * saturated refcount). Kernel WARNs are recorded in ctx.warnings.
 *
 * Applied as: IOMMU_DESTROY runs a copy of iommufd_destroy →
 * iommufd_object_remove (to_destroy NULL) with refcount_dec_and_test.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { EBUSY, ENOENT } from '../../../impl/lib/errno.ts';
import type { IommufdObject } from '../../../impl/iommufd/object.ts';
import { mutantImplementation } from '../harness.ts';

/** How far a stolen object's users is read above the kernel's count (never 1, never underflows). */
const BIAS = 1 << 30;

interface Stolen {
  /** The reference's own users count of the object (table slot + holders). */
  v: number;
  /** References IOMMU_DESTROY took away with a faulty EBUSY. */
  stolen: number;
}

export function createAdapter(profile: Profile): Implementation {
  const stolenOf = new WeakMap<IommufdObject, Stolen>();

  /** From the first stolen reference on, `users` is read through the bias (refcount_t saturation). */
  const steal = (obj: IommufdObject): Stolen => {
    let s = stolenOf.get(obj);
    if (s) return s;
    const st: Stolen = { v: obj.users, stolen: 0 };
    Object.defineProperty(obj, 'users', {
      get: () => st.v + BIAS,
      set: (n: number) => {
        st.v = n - BIAS;
      },
      configurable: true,
      enumerable: true,
    });
    stolenOf.set(obj, st);
    s = st;
    return s;
  };

  return mutantImplementation('destroy-busy-drops-user-ref', profile, {
    handlers: {
      // iommufd_destroy → iommufd_object_remove(ictx, NULL, cmd->id, 0)
      IOMMU_DESTROY: (ucmd) => {
        const { ctx } = ucmd;
        const id = ucmd.cmd.num('id');
        const obj = ctx.objects.load(id);
        if (!obj) return -ENOENT;
        const s = stolenOf.get(obj);
        // The kernel's refcount of the object.
        const users = s ? s.v - s.stolen : obj.users;
        // THE FAULT: refcount_dec_and_test(&obj->users) instead of refcount_dec_if_one().
        if (users - 1 > 0) {
          steal(obj).stolen++;
          return -EBUSY;
        }
        if (users - 1 < 0) {
          // Already underflowed by a holder's refcount_dec: saturated, dec_and_test is false.
          ctx.warnings.push(`refcount_t: underflow; use-after-free (${obj.type} ${id})`);
          return -EBUSY;
        }
        if (s && s.v > 1) ctx.warnings.push(`iommufd_object_remove: ${obj.type} ${id} freed with ${s.v - 1} reference(s) still held`);
        if (!s) obj.users = 0;
        ctx.objects.erase(id);
        if (ctx.vfioIoas === obj) ctx.vfioIoas = null;
        obj.destroy();
        return 0;
      },
    },
  });
}
