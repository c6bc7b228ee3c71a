/**
 * create-access-efault-keeps-access (drivers/iommu/iommufd/selftest.c
 * iommufd_test_create_access).
 *
 * IOMMU_TEST_OP_CREATE_ACCESS builds an access in steps — an fd number
 * (get_unused_fd_flags), the access object (iommufd_access_create: it holds a
 * reference on the iommufd file and is held by its driver), its attachment to
 * the IOAS (iommufd_access_attach: it holds the IOAS) — and only then copies
 * out_access_fd back and installs the fd. A copy-back fault must undo every
 * step, as the attach failure does:
 *
 *     rc = iommufd_access_attach(access, ioas_id);
 *     if (rc)
 *             goto out_destroy;
 *     cmd->create_access.out_access_fd = fdno;
 *     rc = iommufd_ucmd_respond(ucmd, sizeof(*cmd));
 *     if (rc)
 *             goto out_destroy;
 *     ...
 * out_destroy:
 *     iommufd_access_destroy(access);
 * out_put_fdno:
 *     put_unused_fd(fdno);
 * out_free_staccess:
 *     fput(staccess->file);
 *
 * The fault jumps to the wrong label after the copy-back: `goto
 * out_put_fdno`. The fd number and the selftest file are released, but the
 * access object is never destroyed: it stays in the context's object table,
 * still attached to its IOAS and still holding the iommufd file, with nothing
 * left that could ever release it (its driver's file is gone).
 *
 * Consequence for a user whose CREATE_ACCESS fails with EFAULT (an argument
 * the kernel cannot write back): the IOAS can no longer be destroyed
 * (IOMMU_DESTROY: EBUSY, as can the access's id: the driver's reference is
 * never dropped), and because the leaked access holds the iommufd file,
 * closing the iommufd fd never releases the context: every object in it, every
 * mapping, every page its domains pinned and every RLIMIT_MEMLOCK/pinned_vm
 * charge stays after all the process's files are closed.
 *
 * Applied as: IOMMU_TEST_OP_CREATE_ACCESS runs a copy of
 * iommufd_test_create_access whose copy-back failure takes the wrong label.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { ENOMEM, EOPNOTSUPP } from '../../../impl/lib/errno.ts';
import { IOMMU_TEST_OP_CREATE_ACCESS, MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES } from '../../../spec/uapi/constants.ts';
import { iommufdUcmdRespond, ULONG_MAX, type Ucmd } from '../../../impl/iommufd/iommufd_private.ts';
import { SelftestAccess } from '../../../impl/iommufd/selftest.ts';
import { iommufdAccessAttach, iommufdAccessCreate, iommufdAccessDestroy, iommufdAccessUnpinPages, type IommufdAccessOps } from '../../../impl/iommufd/access.ts';
import { KFile } from '../../../impl/process/file.ts';
import { Unwind } from '../../../impl/lib/unwind.ts';
import { mutantImplementation } from '../harness.ts';

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
  if (staccess.access) {
    testAccessUnmap(staccess, 0n, ULONG_MAX);
    iommufdAccessDestroy(staccess.access);
  }
}

/** iommufd_test_create_access with the copy-back failure jumping past out_destroy. */
function testCreateAccess(ucmd: Ucmd): number {
  const { cmd, ctx } = ucmd;
  const flags = cmd.num('create_access.flags');
  if (flags & ~MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES) return -EOPNOTSUPP;
  if (ctx.faults.shouldFail()) return -ENOMEM; // kzalloc(staccess)
  const staccess = new SelftestAccess();
  staccess.needsPin = (flags & MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES) !== 0;
  const file = new KFile('selftest-access', { release: () => staccessRelease(staccess) }, staccess, false);
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
  let rc = iommufdAccessAttach(access, cmd.num('id'));
  if (rc) {
    // goto out_destroy
    iommufdAccessDestroy(access);
    return unwind.exit(rc);
  }
  cmd.set('create_access.out_access_fd', fdno);
  rc = iommufdUcmdRespond(ucmd);
  if (rc) return unwind.exit(rc); // THE FAULT: goto out_put_fdno — the access is not destroyed
  staccess.access = access;
  ctx.proc.fds.fdInstall(fdno, file);
  return unwind.exit(0);
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('create-access-efault-keeps-access', profile, {
    handlers: {
      IOMMU_TEST_CMD: (ucmd, original) => (ucmd.cmd.num('op') === IOMMU_TEST_OP_CREATE_ACCESS ? testCreateAccess(ucmd) : original(ucmd)),
    },
  });
}
