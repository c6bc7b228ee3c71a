/**
 * Shared by the faults that change one test of iommufd_ioas_iova_ranges
 * (ioas.c): a copy of it whose __reserved test and whose "this hole still
 * fits the caller's array" test are parameters. With the kernel's (both
 * defaults) it answers exactly as the reference does.
 */
import { EFAULT, EMSGSIZE, EOPNOTSUPP } from '../../../impl/lib/errno.ts';
import { iommufdGetIoas, iommufdUcmdRespond, type Ucmd } from '../../../impl/iommufd/iommufd_private.ts';
import { ioptIovaRanges } from '../../../impl/iommufd/io_pagetable.ts';
import { requireLayout } from '../../../spec/uapi/layout.ts';
import { encodeStruct } from '../../../spec/abi/codec.ts';

export interface IovaRangesSteps {
  /** `if (cmd->__reserved) return -EOPNOTSUPP;` is there (the kernel: yes). */
  readonly checksReserved?: boolean;
  /** Whether hole number `num` is copied into an array of `max` (the kernel: num < max). */
  readonly fits?: (num: number, max: number) => boolean;
}

/** iommufd_ioas_iova_ranges with the given steps. */
export function iovaRangesWith({ checksReserved = true, fits = (num, max) => num < max }: IovaRangesSteps): (ucmd: Ucmd) => number {
  return (ucmd) => {
    const { cmd, ctx } = ucmd;
    if (checksReserved && cmd.num('__reserved')) return -EOPNOTSUPP;
    const r = iommufdGetIoas(ctx, cmd.num('ioas_id'));
    if (r.errno) return r.errno;
    const ioas = r.value!;
    const maxIovas = cmd.num('num_iovas');
    const ranges = cmd.big('allowed_iovas');
    let num = 0;
    cmd.set('out_iova_alignment', BigInt(ioas.iopt.iovaAlignment));
    const elmSize = requireLayout(ctx.profile, 'iommu_iova_range').size;
    for (const hole of ioptIovaRanges(ioas.iopt)) {
      if (fits(num, maxIovas)) {
        const elm = encodeStruct(ctx.profile, 'iommu_iova_range', { start: hole.start, last: hole.last });
        if (!ctx.proc.copyToUser(ranges + BigInt(num * elmSize), elm)) return -EFAULT;
      }
      num++;
    }
    cmd.set('num_iovas', num);
    const rc = iommufdUcmdRespond(ucmd);
    if (rc) return rc;
    return num > maxIovas ? -EMSGSIZE : 0;
  };
}
