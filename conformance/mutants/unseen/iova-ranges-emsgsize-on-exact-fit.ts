/**
 * iova-ranges-emsgsize-on-exact-fit (drivers/iommu/iommufd/ioas.c
 * iommufd_ioas_iova_ranges; 6.12 and 7.3 alike).
 *
 * The kernel fills at most max_iovas (the caller's num_iovas) ranges, counts
 * every hole, copies the struct back, and reports -EMSGSIZE only when the
 * user's array was too small:
 *
 *     max_iovas = cmd->num_iovas;
 *     ...
 *     rc = iommufd_ucmd_respond(ucmd, sizeof(*cmd));
 *     if (rc)
 *             goto out_put;
 *     if (cmd->num_iovas > max_iovas)
 *             rc = -EMSGSIZE;
 *
 * THE FAULT: the bound is `>=` (`if (cmd->num_iovas >= max_iovas)`): an
 * array with exactly as many entries as there are holes (e.g. num_iovas 1 on
 * a fresh IOAS, whose one hole is [0, ULONG_MAX]) is filled, num_iovas and
 * out_iova_alignment are written back, and then the call fails with
 * -EMSGSIZE as if the array had been short. A user sizing the array from a
 * first num_iovas = 0 query (the documented two-call pattern) always gets
 * EMSGSIZE on the second call.
 *
 * Applied as: IOMMU_IOAS_IOVA_RANGES runs the reference's handler; when it
 * succeeds with num_iovas (the count it wrote back) equal to the caller's
 * num_iovas, the faulty bound answers -EMSGSIZE.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation } from '../harness.ts';
import { EMSGSIZE } from '../../../impl/lib/errno.ts';
import type { IoctlExecute, Ucmd } from '../../../impl/iommufd/iommufd_private.ts';

function iovaRanges(ucmd: Ucmd, original: IoctlExecute): number {
  const maxIovas = ucmd.cmd.num('num_iovas');
  const rc = original(ucmd);
  if (rc) return rc;
  // THE FAULT: `cmd->num_iovas >= max_iovas` where the kernel has `>`.
  if (ucmd.cmd.num('num_iovas') >= maxIovas) return -EMSGSIZE;
  return 0;
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('iova-ranges-emsgsize-on-exact-fit', profile, { handlers: { IOMMU_IOAS_IOVA_RANGES: iovaRanges } });
}
