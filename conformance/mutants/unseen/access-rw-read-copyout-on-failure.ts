/**
 * access-rw-read-copyout-on-failure (drivers/iommu/iommufd/selftest.c
 * iommufd_test_access_rw; reached by IOMMU_TEST_OP_ACCESS_RW without
 * MOCK_ACCESS_RW_WRITE whose iommufd_access_rw fails; 6.12 and 7.3).
 *
 * The kernel's code (both profiles):
 *
 *     rc = iommufd_access_rw(staccess->access, iova, tmp, length, flags);
 *     if (rc)
 *             goto out_free;
 *     if (!(flags & MOCK_ACCESS_RW_WRITE)) {
 *             if (copy_to_user(ubuf, tmp, length)) {
 *                     rc = -EFAULT;
 *                     goto out_free;
 *             }
 *     }
 *
 * A read that fails (ENOENT: not attached / part of the range unmapped,
 * EPERM: an area without READ, EINVAL: an area being unmapped, EFAULT from
 * the pages) leaves the caller's buffer untouched, and answers the errno
 * iommufd_access_rw gave.
 *
 * THE FAULT: the copy-out is folded into the error path, ahead of the rc
 * test,
 *
 *     rc = iommufd_access_rw(staccess->access, iova, tmp, length, flags);
 *     if (!(flags & MOCK_ACCESS_RW_WRITE) &&
 *         copy_to_user(ubuf, tmp, length))
 *             rc = -EFAULT;
 *
 * so a failed read still writes the whole kernel bounce buffer to user
 * memory: the bytes of the pieces iommufd_access_rw copied before it failed
 * and zeroes (kvzalloc) for the rest, over whatever the buffer held. And when
 * the user buffer itself is not writable the answer becomes EFAULT instead of
 * the access's own errno.
 *
 * Observable: after an ACCESS_RW read that fails, the caller's buffer is
 * overwritten (zeroed, or partly filled with IOAS contents) where the kernel
 * leaves it as it was; the errno of a failing read into a read-only buffer
 * is EFAULT instead of ENOENT/EPERM/EINVAL. Successful reads, and writes,
 * answer as the kernel's.
 *
 * Applied as: IOMMU_TEST_OP_ACCESS_RW runs the shared copy of
 * iommufd_test_access_rw (_access_rw.ts) with the faulty tail; every other
 * test op is the reference's.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { IOMMU_TEST_OP_ACCESS_RW } from '../../../spec/uapi/constants.ts';
import { mutantImplementation } from '../harness.ts';
import { accessRwHandler } from './_access_rw.ts';

/** iommufd_test_access_rw with THE FAULT: the copy-out runs before (and whatever) rc says. */
const accessRw = accessRwHandler({ copyOutFirst: true });

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('access-rw-read-copyout-on-failure', profile, {
    handlers: {
      IOMMU_TEST_CMD: (ucmd, original) => (ucmd.cmd.num('op') === IOMMU_TEST_OP_ACCESS_RW ? accessRw(ucmd) : original(ucmd)),
    },
  });
}
