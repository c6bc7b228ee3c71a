/**
 * access-rw-efault-skips-fput (drivers/iommu/iommufd/selftest.c
 * iommufd_test_access_rw, IOMMU_TEST_OP_ACCESS_RW; 6.12 and 7.3).
 *
 * The op takes a reference on the access's file (iommufd_access_get ->
 * fget) and every exit after that must drop it:
 *
 *     staccess = iommufd_access_get(access_id);
 *     if (IS_ERR(staccess))
 *             return PTR_ERR(staccess);
 *     ...
 *     if (flags & MOCK_ACCESS_RW_WRITE) {
 *             if (copy_from_user(tmp, ubuf, length)) {
 *                     rc = -EFAULT;
 *                     goto out_free;
 *             }
 *     }
 *     ...
 *     out_free:
 *             if (tmp != stack_buf)
 *                     kvfree(tmp);
 *     out_put:
 *             fput(staccess->file);
 *             return rc;
 *
 * THE FAULT: the copy_from_user failure returns directly,
 *
 *             if (copy_from_user(tmp, ubuf, length))
 *                     return -EFAULT;
 *
 * leaking the file reference (and the buffer). The answer is still EFAULT,
 * but the access's file can now never be released: closing the access fd
 * does not run iommufd_test_staccess_release, so its pinned items stay
 * pinned (MD_CHECK_REFS), the access stays attached (the IOAS answers EBUSY
 * to IOMMU_DESTROY and unmapping a pinned range can never complete), and
 * the access keeps its iommufd context alive.
 *
 * Applied as: the reference's own ACCESS_RW runs; when it answered EFAULT
 * from the write copy (a write whose source buffer does not read), the
 * file reference the handler took is taken again and never put.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { EFAULT } from '../../../impl/lib/errno.ts';
import { IOMMU_TEST_OP_ACCESS_RW, MOCK_ACCESS_RW_WRITE } from '../../../spec/uapi/constants.ts';
import { SelftestAccess } from '../../../impl/iommufd/selftest.ts';
import { mutantImplementation } from '../harness.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('access-rw-efault-skips-fput', profile, {
    handlers: {
      IOMMU_TEST_CMD: (ucmd, original) => {
        const rc = original(ucmd);
        const { cmd, ctx } = ucmd;
        if (cmd.num('op') !== IOMMU_TEST_OP_ACCESS_RW || rc !== -EFAULT) return rc;
        if (!(cmd.num('access_rw.flags') & MOCK_ACCESS_RW_WRITE)) return rc;
        // Only the copy_from_user exit: the source buffer does not read.
        if (ctx.proc.copyFromUser(cmd.big('access_rw.uptr'), Number(cmd.big('access_rw.length'))) !== null) return rc;
        const file = ctx.proc.fds.fget(cmd.num('id'));
        if (file && !(file.kind === 'selftest-access' && file.private_data instanceof SelftestAccess)) file.put();
        // THE FAULT: the reference fget() took is never fput() (kept here by not putting this one).
        return rc;
      },
    },
  });
}
