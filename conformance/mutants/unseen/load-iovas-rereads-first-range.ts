/**
 * load-iovas-rereads-first-range (drivers/iommu/iommufd/ioas.c
 * iommufd_ioas_load_iovas, reached by IOMMU_IOAS_ALLOW_IOVAS).
 *
 * The kernel (6.12 and 7.3 alike) reads the user's array element by element:
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
 * The fault drops the index from the copy (`copy_from_user(&range, ranges,
 * sizeof(range))`): every iteration reads element 0 again.
 *
 * What a user sees: IOMMU_IOAS_ALLOW_IOVAS with num_iovas == 1 behaves; with
 * two or more (valid, disjoint) ranges the second read is the first range
 * again, which overlaps the one just loaded, so the command fails -EINVAL and
 * the allowed list is unchanged. Conversely an array whose later elements are
 * unreadable (EFAULT in the kernel) or malformed (start >= last, overlapping:
 * EINVAL) is never looked at past element 0. A num_iovas of 0 (clearing the
 * list) is unaffected.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation } from '../harness.ts';
import { EFAULT, EINVAL, ENOMEM, EOPNOTSUPP } from '../../../impl/lib/errno.ts';
import { requireLayout } from '../../../spec/uapi/layout.ts';
import { decodeStruct } from '../../../spec/abi/codec.ts';
import { iommufdGetIoas, type IommufdCtx, type Range, type Ucmd } from '../../../impl/iommufd/iommufd_private.ts';
import { ioptSetAllowIova } from '../../../impl/iommufd/io_pagetable.ts';

/** iommufd_ioas_load_iovas with the element index lost from the copy. */
function loadIovas(ctx: IommufdCtx, uptr: bigint, num: number, out: Range[]): number {
  const elmSize = requireLayout(ctx.profile, 'iommu_iova_range').size;
  for (let i = 0; i < num; i++) {
    // THE FAULT: `ranges + i` became `ranges`.
    const b = ctx.proc.copyFromUser(uptr, elmSize);
    if (!b) return -EFAULT;
    const { start, last } = decodeStruct(ctx.profile, 'iommu_iova_range', b) as { start: bigint; last: bigint };
    if (start >= last) return -EINVAL;
    if (out.some((r) => r.start <= last && r.last >= start)) return -EINVAL;
    if (ctx.faults.shouldFail()) return -ENOMEM;
    out.push({ start, last });
  }
  return 0;
}

/** iommufd_ioas_allow_iovas over the faulty loader; iopt_set_allow_iova is the reference's. */
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
  return mutantImplementation('load-iovas-rereads-first-range', profile, {
    handlers: { IOMMU_IOAS_ALLOW_IOVAS: allowIovas },
  });
}
