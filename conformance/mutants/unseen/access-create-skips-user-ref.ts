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
 * Applied as: IOMMU_TEST_OP_CREATE_ACCESS is a copy of
 * iommufd_test_create_access over the faulty iommufd_access_create, and
 * iommufd_access_destroy (its unwind, and the staccess file's release) is
 * the kernel's iommufd_object_destroy_user with refcount_t's saturation
 * (recorded as warnings where the kernel WARNs).
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation } from '../harness.ts';
import { ENOMEM, EOPNOTSUPP } from '../../../impl/lib/errno.ts';
import { IOMMU_TEST_OP_CREATE_ACCESS, MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES } from '../../../spec/uapi/constants.ts';
import { iommufdUcmdRespond, ULONG_MAX, type IommufdCtx, type Ucmd } from '../../../impl/iommufd/iommufd_private.ts';
import { SelftestAccess } from '../../../impl/iommufd/selftest.ts';
import { IommufdAccess, iommufdAccessAttach, iommufdAccessUnpinPages, type IommufdAccessOps } from '../../../impl/iommufd/access.ts';
import { err, iommufdObjectAlloc, iommufdObjectFinalize, iommufdObjectRemove, ok, type Result } from '../../../impl/iommufd/object.ts';
import { KFile } from '../../../impl/process/file.ts';

/** REFCOUNT_SATURATED: where refcount_warn_saturate leaves a count that hit zero on a plain dec. */
const REFCOUNT_SATURATED = 0xc0000000;

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

/** iommufd_test_access_unmap: drop every item intersecting the range. */
function testAccessUnmap(staccess: SelftestAccess, iova: bigint, length: bigint): void {
  const last = iova + length - 1n;
  for (const item of [...staccess.items]) {
    if (iova > item.iova + item.length - 1n || last < item.iova) continue;
    staccess.items.splice(staccess.items.indexOf(item), 1);
    iommufdAccessUnpinPages(staccess.access!, item.iova, item.length);
  }
}

/** iommufd_test_staccess_release */
function staccessRelease(staccess: SelftestAccess): void {
  if (!staccess.access) return;
  testAccessUnmap(staccess, 0n, ULONG_MAX);
  accessDestroy(staccess.access);
}

/** iommufd_test_create_access over the faulty iommufd_access_create / iommufd_access_destroy. */
function testCreateAccess(ucmd: Ucmd): number {
  const { cmd, ctx } = ucmd;
  const flags = cmd.num('create_access.flags');
  if (flags & ~MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES) return -EOPNOTSUPP;
  if (ctx.faults.shouldFail()) return -ENOMEM; // kzalloc(staccess)
  const staccess = new SelftestAccess();
  staccess.needsPin = (flags & MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES) !== 0;
  // anon_inode_getfile: no FMODE_PREAD; no .read/.write/.poll.
  const file = new KFile('selftest-access', { release: () => staccessRelease(staccess) }, staccess, false);
  staccess.file = file;
  const ops: IommufdAccessOps = {
    needsPinPages: staccess.needsPin,
    unmap: (iova, length) => testAccessUnmap(staccess, iova, length),
  };
  const fdno = ctx.proc.fds.getUnusedFd();
  const a = accessCreate(ctx, ops);
  if (a.errno) {
    ctx.proc.fds.putUnusedFd(fdno); // out_put_fdno
    file.put(); // out_free_staccess
    return a.errno;
  }
  const access = a.value!;
  const outDestroy = (rc: number): number => {
    accessDestroy(access); // out_destroy
    ctx.proc.fds.putUnusedFd(fdno);
    file.put();
    return rc;
  };
  let rc = iommufdAccessAttach(access, cmd.num('id'));
  if (rc) return outDestroy(rc);
  cmd.set('create_access.out_access_fd', fdno);
  rc = iommufdUcmdRespond(ucmd);
  if (rc) return outDestroy(rc);
  staccess.access = access;
  ctx.proc.fds.fdInstall(fdno, file);
  return 0;
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('access-create-skips-user-ref', profile, {
    handlers: {
      IOMMU_TEST_CMD: (ucmd, original) => (ucmd.cmd.num('op') === IOMMU_TEST_OP_CREATE_ACCESS ? testCreateAccess(ucmd) : original(ucmd)),
    },
  });
}
