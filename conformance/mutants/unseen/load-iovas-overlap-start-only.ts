/**
 * load-iovas-overlap-start-only (drivers/iommu/iommufd/ioas.c
 * iommufd_ioas_load_iovas, reached by IOMMU_IOAS_ALLOW_IOVAS with two or
 * more ranges).
 *
 * The kernel (6.12 and 7.3 alike) refuses a list whose ranges overlap, by
 * querying the tree built so far with the whole new range:
 *
 *             if (range.start >= range.last)
 *                     return -EINVAL;
 *
 *             if (interval_tree_iter_first(itree, range.start, range.last))
 *                     return -EINVAL;
 *
 * THE FAULT: `interval_tree_iter_first(itree, range.start, range.start)` —
 * a point query (the way a lookup of "the range holding this IOVA" is
 * written elsewhere), so only a new range whose first byte lies inside an
 * earlier one is refused. A later range that starts below an earlier one
 * and reaches into it (or swallows it whole) is accepted: ALLOW_IOVAS with
 * e.g. [0x100000, 0x1fffff] then [0x0, 0x17ffff] succeeds where the kernel
 * fails with -EINVAL and leaves the old allowed list in place. The allowed
 * list then changes when it should not: automatic IOVAs are placed in the
 * new ranges, and reservations (IOMMU_TEST_OP_ADD_RESERVED, a domain's
 * aperture, a device's reserved regions) that the old list allowed are
 * refused with -EADDRINUSE, or the other way round.
 *
 * Applied as: IOMMU_IOAS_ALLOW_IOVAS is a copy of iommufd_ioas_allow_iovas
 * over a copy of iommufd_ioas_load_iovas with the one changed query, then
 * the reference's iopt_set_allow_iova.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation } from '../harness.ts';
import { EFAULT, EINVAL, ENOMEM, EOPNOTSUPP } from '../../../impl/lib/errno.ts';
import { requireLayout } from '../../../spec/uapi/layout.ts';
import { decodeStruct } from '../../../spec/abi/codec.ts';
import { iommufdGetIoas, type IommufdCtx, type Range, type Ucmd } from '../../../impl/iommufd/iommufd_private.ts';
import { ioptSetAllowIova } from '../../../impl/iommufd/io_pagetable.ts';

/** iommufd_ioas_load_iovas with the fault. */
function loadIovas(ctx: IommufdCtx, uptr: bigint, num: number, out: Range[]): number {
  const elmSize = requireLayout(ctx.profile, 'iommu_iova_range').size;
  for (let i = 0; i < num; i++) {
    const b = ctx.proc.copyFromUser(uptr + BigInt(i * elmSize), elmSize);
    if (!b) return -EFAULT;
    const { start, last } = decodeStruct(ctx.profile, 'iommu_iova_range', b) as { start: bigint; last: bigint };
    if (start >= last) return -EINVAL;
    // THE FAULT: interval_tree_iter_first(itree, range.start, range.start).
    if (out.some((r) => r.start <= start && r.last >= start)) return -EINVAL;
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
  return mutantImplementation('load-iovas-overlap-start-only', profile, { handlers: { IOMMU_IOAS_ALLOW_IOVAS: allowIovas } });
}
