/**
 * add-reserved-last-wrap-unchecked (drivers/iommu/iommufd/selftest.c
 * iommufd_test_add_reserved; reached by IOMMU_TEST_CMD
 * IOMMU_TEST_OP_ADD_RESERVED; 6.12 and 7.3).
 *
 * The kernel's code:
 *
 *     if (!length)
 *             return -EINVAL;
 *     if (check_add_overflow(start, length - 1, &last))
 *             return -EOVERFLOW;
 *     ioas = iommufd_get_ioas(ucmd->ictx, mockpt_id);
 *     ...
 *     rc = iopt_reserve_iova(&ioas->iopt, start, last, NULL);
 *
 * THE FAULT: the overflow check is lost (`last = start + length - 1;`), so a
 * range running past ULONG_MAX wraps: iopt_reserve_iova gets last < start.
 *
 * Observable: ADD_RESERVED whose start + length - 1 passes 2^64 - 1 succeeds
 * (or answers what the lookup/overlap test gives) where the kernel answers
 * EOVERFLOW, and an inverted reserved range is left in the IOAS, which then
 * shapes later IOVA_RANGES / MAP / ALLOW_IOVAS answers.
 *
 * Applied as: IOMMU_TEST_OP_ADD_RESERVED runs a copy of
 * iommufd_test_add_reserved without the check; other ops are the reference's.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation } from '../harness.ts';
import { IOMMU_TEST_OP_ADD_RESERVED } from '../../../spec/uapi/constants.ts';
import { EINVAL } from '../../../impl/lib/errno.ts';
import { iommufdGetIoas, type Ucmd } from '../../../impl/iommufd/iommufd_private.ts';
import { ioptReserveIova } from '../../../impl/iommufd/io_pagetable.ts';

function faultyAddReserved(ucmd: Ucmd): number {
  const { cmd, ctx } = ucmd;
  const start = cmd.big('add_reserved.start');
  const length = cmd.big('add_reserved.length');
  if (!length) return -EINVAL;
  // THE FAULT: no check_add_overflow; the unsigned long sum wraps.
  const last = BigInt.asUintN(64, start + length - 1n);
  const r = iommufdGetIoas(ctx, cmd.num('id'));
  if (r.errno) return r.errno;
  return ioptReserveIova(r.value!.iopt, start, last, null);
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('add-reserved-last-wrap-unchecked', profile, {
    handlers: {
      IOMMU_TEST_CMD: (ucmd, original) => (ucmd.cmd.num('op') === IOMMU_TEST_OP_ADD_RESERVED ? faultyAddReserved(ucmd) : original(ucmd)),
    },
  });
}
