/**
 * access-create-skips-user-ref (drivers/iommu/iommufd/device.c
 * __iommufd_access_create / iommufd_access_create, with
 * iommufd_access_destroy → iommufd_object_destroy_user; reached by
 * IOMMU_TEST_OP_CREATE_ACCESS and the selftest access file's release).
 *
 * An access object sits in the ctx's object table like any other, but it
 * belongs to the driver that created it; the driver's reference is what
 * keeps userspace from destroying it (IOMMU_DESTROY: EBUSY) and is what
 * iommufd_access_destroy gives back:
 *
 *     access = iommufd_object_alloc(ictx, access, IOMMUFD_OBJ_ACCESS);
 *     if (IS_ERR(access))
 *             return access;
 *
 *     /* The calling driver is a user until iommufd_access_destroy() *\/
 *     refcount_inc(&access->obj.users);
 *     mutex_init(&access->ioas_lock);
 *     return access;
 *
 *     void iommufd_access_destroy(struct iommufd_access *access)
 *     {
 *             iommufd_object_destroy_user(access->ictx, &access->obj);
 *     }
 *
 * and iommufd_object_destroy_user → iommufd_object_remove(ictx, obj,
 * obj->id, REMOVE_WAIT): `refcount_dec(&obj->users)` (the caller's
 * reference), then `refcount_dec_if_one(&obj->users)` or -EBUSY, WARN_ON.
 *
 * THE FAULT: the refcount_inc is lost when the creation is split into
 * __iommufd_access_create and its two callers (it "belongs to" the
 * finalize that the internal variant does separately) — the object starts
 * at users == 1, the table's reference only.
 *
 * Every command answers as before while the access lives. Then:
 *  - iommufd_access_destroy (closing the staccess fd; or CREATE_ACCESS's
 *    own out_destroy unwind when the attach fails, e.g. a bad or
 *    misaligned IOAS): refcount_dec takes users from 1 to 0 —
 *    "refcount_t: decrement hit 0; leaking memory", the count saturates —
 *    so refcount_dec_if_one fails: EBUSY, WARN, and the access is never
 *    destroyed. It stays attached to its IOAS (IOMMU_DESTROY of the IOAS:
 *    EBUSY; its PAGE_SIZE IOVA alignment stays), keeps its object id (the
 *    ids the next objects get differ), and keeps its iommufd_ctx_get()
 *    reference, so closing the iommufd never releases the context: every
 *    HWPT, device and mapping in it, and their pins and locked_vm charge,
 *    outlive the last fd.
 *  - IOMMU_DESTROY of the access's id (the id is not reported, but it is
 *    the next free one): 0 instead of EBUSY — userspace detaches and frees
 *    a driver's access under it; its pins are dropped, the driver's later
 *    ACCESS_PAGES / ACCESS_RW answer ENOENT, its close is a use after free.
 *
 * Applied as: IOMMU_TEST_OP_CREATE_ACCESS is _create_access.ts's copy of
 * iommufd_test_create_access over the faulty iommufd_access_create, and
 * iommufd_access_destroy (its unwind, and the staccess file's release) is
 * the kernel's iommufd_object_destroy_user with refcount_t's saturation
 * (recorded as warnings where the kernel WARNs).
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation } from '../harness.ts';
import { REFCOUNT_SATURATED } from './_kernel_refcount.ts';
import { IOMMU_TEST_OP_CREATE_ACCESS } from '../../../spec/uapi/constants.ts';
import type { IommufdCtx } from '../../../impl/iommufd/iommufd_private.ts';
import { IommufdAccess, type IommufdAccessOps } from '../../../impl/iommufd/access.ts';
import { err, iommufdObjectAlloc, iommufdObjectFinalize, iommufdObjectRemove, ok, type Result } from '../../../impl/iommufd/object.ts';
import { createAccessWith } from './_create_access.ts';

/** iommufd_access_create with THE FAULT: no driver reference. */
function accessCreate(ctx: IommufdCtx, ops: IommufdAccessOps): Result<IommufdAccess> {
  const access = new IommufdAccess(ctx, ops);
  const rc = iommufdObjectAlloc(ctx, access);
  if (rc) return err(rc);
  // THE FAULT: no refcount_inc(&access->obj.users) for the calling driver.
  ctx.file?.get(); // iommufd_ctx_get
  iommufdObjectFinalize(ctx, access);
  return ok(access);
}

/** iommufd_access_destroy → iommufd_object_destroy_user → iommufd_object_remove(ictx, obj, obj->id, REMOVE_WAIT). */
function accessDestroy(access: IommufdAccess): void {
  const ctx = access.ctx;
  if (ctx.objects.load(access.id) !== access) {
    // Userspace destroyed it already: the kernel's WARN_ON(obj != to_destroy) on freed memory.
    ctx.warnings.push(`iommufd_access_destroy: access ${access.id} was already destroyed (use after free)`);
    return;
  }
  // refcount_dec(&obj->users): the caller's reference.
  if (access.users <= 1) {
    ctx.warnings.push(`refcount_t: decrement hit 0; leaking memory (access ${access.id})`);
    access.users = REFCOUNT_SATURATED;
  } else access.users--;
  // refcount_dec_if_one(&obj->users), else -EBUSY: WARN_ON(ret) in iommufd_object_destroy_user.
  if (access.users !== 1) {
    ctx.warnings.push(`iommufd_object_destroy_user: access ${access.id} busy (EBUSY)`);
    return;
  }
  iommufdObjectRemove(ctx, access.id);
}

/** iommufd_test_create_access over the faulty iommufd_access_create / iommufd_access_destroy. */
const testCreateAccess = createAccessWith({ create: accessCreate, destroy: accessDestroy });

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('access-create-skips-user-ref', profile, {
    handlers: {
      IOMMU_TEST_CMD: (ucmd, original) => (ucmd.cmd.num('op') === IOMMU_TEST_OP_CREATE_ACCESS ? testCreateAccess(ucmd) : original(ucmd)),
    },
  });
}
