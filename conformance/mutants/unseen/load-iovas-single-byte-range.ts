/**
 * load-iovas-single-byte-range (drivers/iommu/iommufd/ioas.c
 * iommufd_ioas_load_iovas, reached by IOMMU_IOAS_ALLOW_IOVAS with
 * num_iovas > 0).
 *
 * The kernel's (6.12 and 7.3 alike) refuses a range whose start is not
 * strictly below its last, so a one-byte range [x, x] is -EINVAL:
 *
 *     for (i = 0; i != num; i++) {
 *             struct iommu_iova_range range;
 *             struct iopt_allowed *allowed;
 *
 *             if (copy_from_user(&range, ranges + i, sizeof(range)))
 *                     return -EFAULT;
 *
 *             if (range.start >= range.last)
 *                     return -EINVAL;
 *
 *             if (interval_tree_iter_first(itree, range.start, range.last))
 *                     return -EINVAL;
 *             ...
 *
 * THE FAULT: `if (range.start > range.last)` — the test a developer writes
 * for an inclusive [start, last] pair, where only an inverted range looks
 * malformed. A range with start == last is then accepted: ALLOW_IOVAS with
 * such a range (alone or among others) succeeds where the kernel fails with
 * -EINVAL and leaves the allowed list as it was. The new allowed list holds
 * a one-byte range, so what follows differs too: automatic-IOVA maps see
 * the allowed list as non-empty (and nothing fits a byte: -ENOSPC where the
 * old list, or the whole space, had room), IOMMU_TEST_OP_ADD_RESERVED and a
 * domain's aperture or device reserved regions covering that byte are
 * refused (-EADDRINUSE), and a later ALLOW_IOVAS that the kernel would
 * refuse for an overlap is compared against a different list.
 *
 * Applied as: IOMMU_IOAS_ALLOW_IOVAS is the reference's (iopt_set_allow_iova
 * included) over this iommufd_ioas_load_iovas.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { EFAULT, EINVAL, ENOMEM, EOPNOTSUPP } from '../../../impl/lib/errno.ts';
import { requireLayout } from '../../../spec/uapi/layout.ts';
import { decodeStruct } from '../../../spec/abi/codec.ts';
import { iommufdGetIoas, type IommufdCtx, type Range, type Ucmd } from '../../../impl/iommufd/iommufd_private.ts';
import { ioptSetAllowIova } from '../../../impl/iommufd/io_pagetable.ts';
import { mutantImplementation } from '../harness.ts';

/** iommufd_ioas_load_iovas with the faulty bound test. */
function loadIovas(ctx: IommufdCtx, uptr: bigint, num: number, out: Range[]): number {
  const elmSize = requireLayout(ctx.profile, 'iommu_iova_range').size;
  for (let i = 0; i < num; i++) {
    const b = ctx.proc.copyFromUser(uptr + BigInt(i * elmSize), elmSize);
    if (!b) return -EFAULT;
    const { start, last } = decodeStruct(ctx.profile, 'iommu_iova_range', b) as { start: bigint; last: bigint };
    // THE FAULT: if (range.start > range.last) return -EINVAL;
    if (start > last) return -EINVAL;
    if (out.some((r) => r.start <= last && r.last >= start)) return -EINVAL;
    if (ctx.faults.shouldFail()) return -ENOMEM;
    out.push({ start, last });
  }
  return 0;
}

/** iommufd_ioas_allow_iovas */
function allowIovas(ucmd: Ucmd): number {
  const { cmd, ctx } = ucmd;
  if (cmd.num('__reserved')) return -EOPNOTSUPP;
  const r = iommufdGetIoas(ctx, cmd.num('ioas_id'));
  if (r.errno) return r.errno;
  const allowed: Range[] = [];
  const rc = loadIovas(ctx, cmd.big('allowed_iovas'), cmd.num('num_iovas'), allowed);
  if (rc) return rc;
  return ioptSetAllowIova(r.value!.iopt, allowed);
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('load-iovas-single-byte-range', profile, {
    handlers: { IOMMU_IOAS_ALLOW_IOVAS: (ucmd) => allowIovas(ucmd) },
  });
}
