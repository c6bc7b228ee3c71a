/**
 * create-access-attach-fail-leaks-fdno (drivers/iommu/iommufd/selftest.c
 * iommufd_test_create_access, IOMMU_TEST_OP_CREATE_ACCESS).
 *
 * Creating the selftest access reserves its fd number first
 * (get_unused_fd_flags), builds and attaches the access, and only installs
 * the file at that number once nothing can fail any more. Every failure
 * after the reservation must give the number back:
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
 *     return rc;
 *
 * THE FAULT: the attach failure destroys the access inline and jumps to the
 * last label (the destroy was open-coded when the attach step was added
 * between create and respond), skipping put_unused_fd():
 *
 *     rc = iommufd_access_attach(access, ioas_id);
 *     if (rc) {
 *             iommufd_access_destroy(access);
 *             goto out_free_staccess;
 *     }
 *
 * The failing command answers what the kernel answers (ENOENT for an id
 * that is not an IOAS, EADDRINUSE when the IOAS has areas an access's
 * PAGE_SIZE alignment refuses, ENOMEM) and leaves no object behind — but
 * the fd number stays reserved in the process's fd table with no file:
 * nothing can close it (close → EBADF), and every later fd the process gets
 * skips it. The next open("/dev/iommu"), VFIO cdev open, CREATE_ACCESS
 * out_access_fd, … returns a higher number than the lowest free one that
 * POSIX (and the adapter contract's lowest-free rule) requires, so fds the
 * user predicted name the wrong file or none; each failed create leaks one
 * more slot until the process hits RLIMIT_NOFILE (EMFILE).
 *
 * Applied as: IOMMU_TEST_OP_CREATE_ACCESS runs a copy of
 * iommufd_test_create_access with the attach failure path above.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { ENOMEM, EOPNOTSUPP } from '../../../impl/lib/errno.ts';
import { IOMMU_TEST_OP_CREATE_ACCESS, MOCK_FLAGS_ACCESS_CREATE_NEEDS_PIN_PAGES } from '../../../spec/uapi/constants.ts';
import { iommufdUcmdRespond, ULONG_MAX, type Ucmd } from '../../../impl/iommufd/iommufd_private.ts';
import { SelftestAccess } from '../../../impl/iommufd/selftest.ts';
import { iommufdAccessAttach, iommufdAccessCreate, iommufdAccessDestroy, iommufdAccessUnpinPages, type IommufdAccessOps } from '../../../impl/iommufd/access.ts';
import { KFile } from '../../../impl/process/file.ts';
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

/** iommufd_test_create_access with THE FAULT on the attach failure path. */
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
  const a = iommufdAccessCreate(ctx, ops);
  if (a.errno) {
    // out_put_fdno, out_free_staccess
    ctx.proc.fds.putUnusedFd(fdno);
    file.put();
    return a.errno;
  }
  const access = a.value!;
  let rc = iommufdAccessAttach(access, cmd.num('id'));
  if (rc) {
    // THE FAULT: iommufd_access_destroy(access); goto out_free_staccess; — put_unused_fd(fdno) is skipped.
    iommufdAccessDestroy(access);
    file.put();
    return rc;
  }
  cmd.set('create_access.out_access_fd', fdno);
  rc = iommufdUcmdRespond(ucmd);
  if (rc) {
    // out_destroy, out_put_fdno, out_free_staccess
    iommufdAccessDestroy(access);
    ctx.proc.fds.putUnusedFd(fdno);
    file.put();
    return rc;
  }
  staccess.access = access;
  ctx.proc.fds.fdInstall(fdno, file);
  return 0;
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('create-access-attach-fail-leaks-fdno', profile, {
    handlers: {
      IOMMU_TEST_CMD: (ucmd, original) => (ucmd.cmd.num('op') === IOMMU_TEST_OP_CREATE_ACCESS ? testCreateAccess(ucmd) : original(ucmd)),
    },
  });
}
