/**
 * add-reserved-zero-length-unchecked (drivers/iommu/iommufd/selftest.c
 * iommufd_test_add_reserved, IOMMU_TEST_CMD / IOMMU_TEST_OP_ADD_RESERVED;
 * 6.12 and 7.3).
 *
 * The kernel refuses an empty range before it forms the inclusive end:
 *
 *         static int iommufd_test_add_reserved(struct iommufd_ucmd *ucmd,
 *                                              unsigned int mockpt_id,
 *                                              unsigned long start, size_t length)
 *         {
 *                 unsigned long last;
 *                 ...
 *                 if (!length)
 *                         return -EINVAL;
 *                 if (check_add_overflow(start, length - 1, &last))
 *                         return -EOVERFLOW;
 *
 *                 ioas = iommufd_get_ioas(ucmd->ictx, mockpt_id);
 *                 ...
 *                 down_write(&ioas->iopt.iova_rwsem);
 *                 rc = iopt_reserve_iova(&ioas->iopt, start, last, NULL);
 *
 * THE FAULT drops the `if (!length)` test (the overflow test right below
 * looks like it already guards the arithmetic, so the zero test reads as
 * redundant). With length 0, `length - 1` is SIZE_MAX:
 *   - start != 0: start + SIZE_MAX wraps, so the command answers EOVERFLOW
 *     where the kernel answers EINVAL (before the IOAS lookup: a bad id
 *     answers EOVERFLOW too instead of EINVAL);
 *   - start == 0: no wrap, last = ULONG_MAX, and the "empty" reservation
 *     reserves the whole IOVA space [0, ULONG_MAX] of an IOAS without
 *     areas or allowed ranges: IOMMU_IOAS_IOVA_RANGES then reports no
 *     usable range, every later IOMMU_IOAS_MAP / COPY fails (ENOSPC for an
 *     automatic IOVA, EADDRINUSE for a fixed one), and attaching a device
 *     whose reserved regions must be added still works (the tree just grows).
 *
 * Applied as: IOMMU_TEST_OP_ADD_RESERVED answered by a copy of
 * iommufd_test_add_reserved without the zero-length test, the end computed
 * with the kernel's size_t / unsigned long wrap; every other test op is the
 * reference's.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { EOVERFLOW } from '../../../impl/lib/errno.ts';
import { IOMMU_TEST_OP_ADD_RESERVED } from '../../../spec/uapi/constants.ts';
import { iommufdGetIoas, ULONG_MAX } from '../../../impl/iommufd/iommufd_private.ts';
import { ioptReserveIova } from '../../../impl/iommufd/io_pagetable.ts';
import { mutantImplementation } from '../harness.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('add-reserved-zero-length-unchecked', profile, {
    handlers: {
      IOMMU_TEST_CMD: (ucmd, original) => {
        const { cmd, ctx } = ucmd;
        if (cmd.num('op') !== IOMMU_TEST_OP_ADD_RESERVED) return original(ucmd);
        const start = cmd.big('add_reserved.start');
        const length = cmd.big('add_reserved.length');
        // (the `if (!length) return -EINVAL;` is gone)
        // check_add_overflow(start, length - 1, &last): length - 1 is a size_t.
        const last = start + BigInt.asUintN(64, length - 1n);
        if (last > ULONG_MAX) return -EOVERFLOW;
        const r = iommufdGetIoas(ctx, cmd.num('id'));
        if (r.errno) return r.errno;
        return ioptReserveIova(r.value!.iopt, start, last, null);
      },
    },
  });
}
