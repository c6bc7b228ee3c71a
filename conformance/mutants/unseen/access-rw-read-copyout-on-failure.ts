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
 * Applied as: IOMMU_TEST_OP_ACCESS_RW runs a copy of iommufd_test_access_rw
 * (over the reference's iommufd_access_rw) with the faulty tail; every other
 * test op is the reference's.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { EBADFD, EFAULT, ENOMEM, EOPNOTSUPP } from '../../../impl/lib/errno.ts';
import { IOMMU_TEST_OP_ACCESS_RW, MOCK_ACCESS_RW_SLOW_PATH, MOCK_ACCESS_RW_WRITE, MOCK_FLAGS_ACCESS_SYZ } from '../../../spec/uapi/constants.ts';
import { SelftestAccess, syzConvIova } from '../../../impl/iommufd/selftest.ts';
import { iommufdAccessRw } from '../../../impl/iommufd/access.ts';
import { mutantImplementation } from '../harness.ts';

const SZ_16M = 16n * 1024n * 1024n;

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('access-rw-read-copyout-on-failure', profile, {
    handlers: {
      IOMMU_TEST_CMD: (ucmd, original) => {
        const { cmd, ctx } = ucmd;
        if (cmd.num('op') !== IOMMU_TEST_OP_ACCESS_RW) return original(ucmd);
        let iova = cmd.big('access_rw.iova');
        const length = cmd.big('access_rw.length');
        const ubuf = cmd.big('access_rw.uptr');
        const flags = cmd.num('access_rw.flags');
        if (length > SZ_16M) return -ENOMEM;
        if (flags & ~(MOCK_ACCESS_RW_WRITE | MOCK_ACCESS_RW_SLOW_PATH | MOCK_FLAGS_ACCESS_SYZ)) return -EOPNOTSUPP;
        // iommufd_access_get
        const file = ctx.proc.fds.fget(cmd.num('id'));
        if (!file) return -EBADFD;
        try {
          if (file.kind !== 'selftest-access' || !(file.private_data instanceof SelftestAccess)) return -EBADFD;
          const access = file.private_data.access!;
          if (ctx.faults.shouldFail()) return -ENOMEM; // kvzalloc(tmp)
          let tmp: Uint8Array = new Uint8Array(Number(length));
          const write = (flags & MOCK_ACCESS_RW_WRITE) !== 0;
          if (write) {
            const b = ctx.proc.copyFromUser(ubuf, Number(length));
            if (!b) return -EFAULT;
            tmp = b;
          }
          if (flags & MOCK_FLAGS_ACCESS_SYZ) iova = syzConvIova(access, iova);
          let rc = iommufdAccessRw(access, iova, tmp, write, (flags & MOCK_ACCESS_RW_SLOW_PATH) !== 0);
          // THE FAULT: the copy-out runs before (and whatever) rc says.
          if (!write && !ctx.proc.copyToUser(ubuf, tmp)) rc = -EFAULT;
          return rc;
        } finally {
          file.put();
        }
      },
    },
  });
}
