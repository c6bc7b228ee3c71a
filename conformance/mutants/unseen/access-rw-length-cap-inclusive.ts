/**
 * access-rw-length-cap-inclusive (iommufd_test_access_rw,
 * drivers/iommu/iommufd/selftest.c; IOMMU_TEST_CMD op IOMMU_TEST_OP_ACCESS_RW
 * with access_rw.length exactly 16 MiB; 6.12 and 7.3).
 *
 * The kernel's code:
 *
 *     /* Prevent syzkaller from triggering a WARN_ON in kvzalloc() *\/
 *     if (length > 16*1024*1024)
 *             return -ENOMEM;
 *
 * The fault: the cap is written inclusive (`length >= SZ_16M`, a bound off
 * by one), so a read or write of exactly 16 MiB through the access is
 * refused with ENOMEM before anything else is checked: the kernel instead
 * goes on and answers what iommufd_access_rw answers (0 and the data copied
 * when the 16 MiB are mapped, ENOENT when not, EOPNOTSUPP for bad flags,
 * EBADFD for a bad access fd, EFAULT for a bad user buffer).
 *
 * Applied as: ACCESS_RW of exactly 16 MiB answers ENOMEM; the rest is the
 * reference's.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { ENOMEM } from '../../../impl/lib/errno.ts';
import { IOMMU_TEST_OP_ACCESS_RW } from '../../../spec/uapi/constants.ts';
import { mutantImplementation } from '../harness.ts';

const SZ_16M = 16n * 1024n * 1024n;

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('access-rw-length-cap-inclusive', profile, {
    handlers: {
      IOMMU_TEST_CMD: (ucmd, original) => {
        const { cmd } = ucmd;
        // THE FAULT: length >= 16 MiB instead of > 16 MiB.
        if (cmd.num('op') === IOMMU_TEST_OP_ACCESS_RW && cmd.big('access_rw.length') >= SZ_16M) return -ENOMEM;
        return original(ucmd);
      },
    },
  });
}
