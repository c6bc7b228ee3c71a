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
 * Applied as: IOMMU_TEST_OP_CREATE_ACCESS runs _create_access.ts's copy of
 * iommufd_test_create_access whose copy-back failure takes the wrong label.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { IOMMU_TEST_OP_CREATE_ACCESS } from '../../../spec/uapi/constants.ts';
import { mutantImplementation } from '../harness.ts';
import { createAccessSkipping } from './_create_access.ts';

/** iommufd_test_create_access; THE FAULT: the copy-back failure goes to out_put_fdno: the access is not destroyed. */
const testCreateAccess = createAccessSkipping({ respond: 'out_destroy' });

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('create-access-efault-keeps-access', profile, {
    handlers: {
      IOMMU_TEST_CMD: (ucmd, original) => (ucmd.cmd.num('op') === IOMMU_TEST_OP_CREATE_ACCESS ? testCreateAccess(ucmd) : original(ucmd)),
    },
  });
}
