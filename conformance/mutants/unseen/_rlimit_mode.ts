/**
 * Shared by the faults in IOMMU_OPTION's RLIMIT_MODE: a copy of
 * iommufd_option_rlimit_mode (6.12 ioas.c, 7.3 main.c) whose SET is made of
 * steps, and iommufd_option's handling around it (the __reserved test, and on
 * success val64 alone copied back). With the reference's steps it answers as
 * the reference does.
 */
import { EBUSY, EFAULT, EINVAL, EOPNOTSUPP, EPERM } from '../../../impl/lib/errno.ts';
import { IOMMU_OPTION_OP_GET, IOMMU_OPTION_OP_SET, IOMMU_OPTION_RLIMIT_MODE } from '../../../spec/uapi/constants.ts';
import type { IoctlExecute, IommufdCtx, Ucmd } from '../../../impl/iommufd/iommufd_private.ts';

/** The steps of the SET a fault may replace; each one not given is the reference's. */
export interface RlimitModeSteps {
  /** xa_empty(&ictx->objects): a SET while the context holds any object is EBUSY. */
  readonly checksBusy?: boolean;
  /** The mode from val64: 0 USER, 1 MM, anything else EINVAL with the mode left as it was. */
  readonly setMode?: (ctx: IommufdCtx, val: bigint) => number;
}

function setModeChecked(ctx: IommufdCtx, val: bigint): number {
  if (val === 0n) ctx.accountMode = 'USER';
  else if (val === 1n) ctx.accountMode = 'MM';
  else return -EINVAL;
  return 0;
}

/** iommufd_option_rlimit_mode over the given steps. */
export function rlimitModeWith({ checksBusy = true, setMode = setModeChecked }: RlimitModeSteps = {}): (ucmd: Ucmd) => number {
  return (ucmd) => {
    const { cmd, ctx } = ucmd;
    if (cmd.num('object_id')) return -EOPNOTSUPP;
    const opv = cmd.num('op');
    if (opv === IOMMU_OPTION_OP_GET) {
      cmd.set('val64', ctx.accountMode === 'MM' ? 1n : 0n);
      return 0;
    }
    if (opv === IOMMU_OPTION_OP_SET) {
      if (!ctx.proc.capable('CAP_SYS_RESOURCE')) return -EPERM;
      if (checksBusy && !ctx.objects.empty) return -EBUSY;
      return setMode(ctx, cmd.big('val64'));
    }
    return -EOPNOTSUPP;
  };
}

/** IOMMU_OPTION whose RLIMIT_MODE goes through `rlimitMode` (iommufd_option around it); every other option is the reference's. */
export function rlimitOptionHandler(rlimitMode: (ucmd: Ucmd) => number): (ucmd: Ucmd, original: IoctlExecute) => number {
  return (ucmd, original) => {
    const { cmd, ctx } = ucmd;
    if (cmd.num('__reserved')) return -EOPNOTSUPP; // iommufd_option
    if (cmd.num('option_id') !== IOMMU_OPTION_RLIMIT_MODE) return original(ucmd);
    const rc = rlimitMode(ucmd);
    if (rc) return rc;
    // iommufd_option: val64 alone is copied back.
    return ctx.proc.copyToUser(ucmd.ubuffer + BigInt(cmd.offsetOf('val64')), cmd.fieldBytes('val64')) ? 0 : -EFAULT;
  };
}
