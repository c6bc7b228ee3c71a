/**
 * access-change-fail-keeps-ioas-ref (drivers/iommu/iommufd/device.c
 * iommufd_access_change_ioas_id, the lookup half of iommufd_access_attach and
 * iommufd_access_replace; reached by IOMMU_TEST_OP_CREATE_ACCESS and
 * IOMMU_TEST_OP_ACCESS_REPLACE_IOAS; 6.12 and 7.3).
 *
 * The kernel's code:
 *
 *     static int iommufd_access_change_ioas_id(struct iommufd_access *access, u32 id)
 *     {
 *             struct iommufd_ioas *ioas = iommufd_get_ioas(access->ictx, id);
 *             int rc;
 *
 *             if (IS_ERR(ioas))
 *                     return PTR_ERR(ioas);
 *             rc = iommufd_access_change_ioas(access, ioas);
 *             iommufd_put_object(access->ictx, &ioas->obj);
 *             return rc;
 *     }
 *
 * iommufd_get_ioas takes a short-term users reference on the IOAS
 * (iommufd_lock_obj: refcount_inc_not_zero(&obj->users) and
 * shortterm_users / wait_cnt) that iommufd_put_object gives back whatever
 * iommufd_access_change_ioas answered; when the change succeeds, the access's
 * long-lived reference is the separate refcount_inc(&new_ioas->obj.users)
 * inside iommufd_access_change_ioas.
 *
 * The fault: the function is written in the common "bail out on error" shape,
 *
 *             rc = iommufd_access_change_ioas(access, ioas);
 *             if (rc)
 *                     return rc;
 *             iommufd_put_object(access->ictx, &ioas->obj);
 *             return 0;
 *
 * so a failed attach or replace leaks the lookup's reference on the IOAS it
 * tried to join. iommufd_access_change_ioas fails after the lookup when the
 * access cannot join the new IOAS: iopt_add_access's alignment check (a
 * pinning access needs PAGE_SIZE; an IOAS without a domain, or with the 6.12
 * mock's 2 KiB pages, may hold sub-page areas: EADDRINUSE), its xa_alloc
 * (ENOMEM), or a full access list (EBUSY). The answer is the kernel's; what
 * changes is the other object: that IOAS (which the access never joined)
 * is now held for ever. IOMMU_DESTROY of it is EBUSY where the kernel
 * destroys it, and closing the iommufd cannot free it either
 * (iommufd_fops_release finds it with users 2, WARNs and stops), so
 * everything it maps stays pinned and charged, and the devices attached to
 * its HWPTs stay attached and owned, after the last fd is closed.
 *
 * Applied as: IOMMU_TEST_OP_CREATE_ACCESS runs a copy of
 * iommufd_test_create_access whose iommufd_access_attach goes through the
 * faulty iommufd_access_change_ioas_id, and IOMMU_TEST_OP_ACCESS_REPLACE_IOAS
 * a copy of iommufd_test_access_replace_ioas → iommufd_access_replace over
 * it (the leaked short-term reference modelled as a users reference); every
 * other op is the reference's.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { EINVAL, ENOMEM, EOPNOTSUPP } from '../../../impl/lib/errno.ts';
import { IOMMU_TEST_OP_ACCESS_REPLACE_IOAS, IOMMU_TEST_OP_CREATE_ACCESS, MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES } from '../../../spec/uapi/constants.ts';
import { iommufdGetIoas, iommufdUcmdRespond, ULONG_MAX, type IommufdIoas, type Ucmd } from '../../../impl/iommufd/iommufd_private.ts';
import { refcount_inc } from '../../../impl/iommufd/object.ts';
import { SelftestAccess } from '../../../impl/iommufd/selftest.ts';
import {
  iommufdAccessChangeIoas,
  iommufdAccessCreate,
  iommufdAccessDestroy,
  iommufdAccessUnpinPages,
  type IommufdAccess,
  type IommufdAccessOps,
} from '../../../impl/iommufd/access.ts';
import { KFile } from '../../../impl/process/file.ts';
import { Unwind } from '../../../impl/lib/unwind.ts';
import { mutantImplementation } from '../harness.ts';
import { accessReplaceIoasWith } from './_access_change.ts';

/** iommufd_access_change_ioas as iommufd_access_change_ioas_id calls it, with the short-term reference leaked on failure. */
function changeIoasLeaking(access: IommufdAccess, ioas: IommufdIoas | null): number {
  const rc = iommufdAccessChangeIoas(access, ioas);
  // THE FAULT: `if (rc) return rc;` before iommufd_put_object: the lookup's users reference stays.
  if (rc && ioas) refcount_inc(ioas);
  return rc;
}

/** iommufd_access_attach → the faulty iommufd_access_change_ioas_id. */
function accessAttach(access: IommufdAccess, ioasId: number): number {
  if (access.ioas) return -EINVAL; // WARN_ON(access->ioas)
  const r = iommufdGetIoas(access.ctx, ioasId);
  if (r.errno) return r.errno;
  return changeIoasLeaking(access, r.value!);
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

/** iommufd_test_create_access (selftest.c), the reference's, over the faulty attach. */
function testCreateAccess(ucmd: Ucmd): number {
  const { cmd, ctx } = ucmd;
  const flags = cmd.num('create_access.flags');
  if (flags & ~MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES) return -EOPNOTSUPP;
  if (ctx.faults.shouldFail()) return -ENOMEM; // kzalloc(staccess)
  const staccess = new SelftestAccess();
  staccess.needsPin = (flags & MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES) !== 0;
  // iommufd_test_staccess_release
  const release = (): void => {
    if (!staccess.access) return;
    testAccessUnmap(staccess, 0n, ULONG_MAX);
    iommufdAccessDestroy(staccess.access);
  };
  const file = new KFile('selftest-access', { release }, staccess, false);
  staccess.file = file;
  const ops: IommufdAccessOps = {
    needsPinPages: staccess.needsPin,
    unmap: (iova, length) => testAccessUnmap(staccess, iova, length),
  };
  const unwind = new Unwind();
  unwind.onError('out_free_staccess', () => file.put());
  const fdno = ctx.proc.fds.getUnusedFd();
  unwind.onError('out_put_fdno', () => ctx.proc.fds.putUnusedFd(fdno));
  const a = iommufdAccessCreate(ctx, ops);
  if (a.errno) return unwind.exit(a.errno);
  const access = a.value!;
  unwind.onError('out_destroy', () => iommufdAccessDestroy(access));
  let rc = accessAttach(access, cmd.num('id'));
  if (rc) return unwind.exit(rc);
  cmd.set('create_access.out_access_fd', fdno);
  rc = iommufdUcmdRespond(ucmd);
  if (rc) return unwind.exit(rc);
  staccess.access = access;
  ctx.proc.fds.fdInstall(fdno, file);
  return unwind.exit(0);
}

export function createAdapter(profile: Profile): Implementation {
  const replaceIoas = accessReplaceIoasWith(changeIoasLeaking);
  return mutantImplementation('access-change-fail-keeps-ioas-ref', profile, {
    handlers: {
      IOMMU_TEST_CMD: (ucmd, original) => {
        const op = ucmd.cmd.num('op');
        if (op === IOMMU_TEST_OP_CREATE_ACCESS) return testCreateAccess(ucmd);
        if (op === IOMMU_TEST_OP_ACCESS_REPLACE_IOAS) return replaceIoas(ucmd, original);
        return original(ucmd);
      },
    },
  });
}
