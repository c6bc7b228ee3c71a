/**
 * iommufd_ioas_allow_iovas (ioas.c) over a given iopt_set_allow_iova, for the
 * faults written in it: the user's ranges are read and checked as the kernel
 * does (iommufd_ioas_load_iovas), then handed to the fault's setter.
 */
import { EFAULT, EINVAL, ENOMEM, EOPNOTSUPP } from '../../../impl/lib/errno.ts';
import { requireLayout } from '../../../spec/uapi/layout.ts';
import { decodeStruct } from '../../../spec/abi/codec.ts';
import { iommufdGetIoas, type IommufdCtx, type IoPagetable, type Range, type Ucmd } from '../../../impl/iommufd/iommufd_private.ts';

/** The steps of iommufd_ioas_load_iovas a fault may change; each one not given is the kernel's. */
export interface LoadIovasSteps {
  /** `range.start >= range.last` is EINVAL: a one-byte range is refused too (false: only start > last). */
  readonly refusesOneByte?: boolean;
  /** The overlap test queries the earlier ranges over [start, last] (false: at start only, a point query). */
  readonly overlapWholeRange?: boolean;
}

/** iommufd_ioas_load_iovas, as the reference has it: EFAULT, start >= last -> EINVAL, overlap -> EINVAL, ENOMEM. */
function loadIovas(ctx: IommufdCtx, uptr: bigint, num: number, out: Range[], steps: LoadIovasSteps): number {
  const elmSize = requireLayout(ctx.profile, 'iommu_iova_range').size;
  for (let i = 0; i < num; i++) {
    const b = ctx.proc.copyFromUser(uptr + BigInt(i * elmSize), elmSize);
    if (!b) return -EFAULT;
    const { start, last } = decodeStruct(ctx.profile, 'iommu_iova_range', b) as { start: bigint; last: bigint };
    if (steps.refusesOneByte === false ? start > last : start >= last) return -EINVAL;
    const queryLast = steps.overlapWholeRange === false ? start : last;
    if (out.some((r) => r.start <= queryLast && r.last >= start)) return -EINVAL;
    if (ctx.faults.shouldFail()) return -ENOMEM;
    out.push({ start, last });
  }
  return 0;
}

/** iommufd_ioas_allow_iovas, its last step the given iopt_set_allow_iova. */
export function allowIovasWith(setAllowIova: (iopt: IoPagetable, allowed: Range[]) => number, steps: LoadIovasSteps = {}): (ucmd: Ucmd) => number {
  return (ucmd) => {
    const { cmd, ctx } = ucmd;
    if (cmd.num('__reserved')) return -EOPNOTSUPP;
    const r = iommufdGetIoas(ctx, cmd.num('ioas_id'));
    if (r.errno) return r.errno;
    const allowed: Range[] = [];
    const rc = loadIovas(ctx, cmd.big('allowed_iovas'), cmd.num('num_iovas'), allowed, steps);
    if (rc) return rc;
    return setAllowIova(r.value!.iopt, allowed);
  };
}
