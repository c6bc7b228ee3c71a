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
 * Applied as: IOMMU_TEST_OP_CREATE_ACCESS runs _create_access.ts's copy of
 * iommufd_test_create_access with the attach failure path above.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { IOMMU_TEST_OP_CREATE_ACCESS } from '../../../spec/uapi/constants.ts';
import { mutantImplementation } from '../harness.ts';
import { createAccessSkipping } from './_create_access.ts';

/** iommufd_test_create_access; THE FAULT: the attach failure destroys the access and goes to out_free_staccess: put_unused_fd(fdno) is skipped. */
const testCreateAccess = createAccessSkipping({ attach: 'out_put_fdno' });

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('create-access-attach-fail-leaks-fdno', profile, {
    handlers: {
      IOMMU_TEST_CMD: (ucmd, original) => (ucmd.cmd.num('op') === IOMMU_TEST_OP_CREATE_ACCESS ? testCreateAccess(ucmd) : original(ucmd)),
    },
  });
}
