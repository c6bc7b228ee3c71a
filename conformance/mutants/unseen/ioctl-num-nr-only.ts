/**
 * ioctl-num-nr-only (drivers/iommu/iommufd/main.c iommufd_fops_ioctl).
 *
 * The dispatcher indexes iommufd_ioctl_ops[] by _IOC_NR(cmd) alone, and
 * then insists that the whole request number is the command's:
 *     nr = _IOC_NR(cmd);
 *     if (nr < IOMMUFD_CMD_BASE ||
 *         (nr - IOMMUFD_CMD_BASE) >= ARRAY_SIZE(iommufd_ioctl_ops))
 *             return iommufd_vfio_ioctl(ictx, cmd, arg);
 *     ucmd.ictx = ictx;
 *     ucmd.ubuffer = (void __user *)arg;
 *     ret = get_user(ucmd.user_size, (u32 __user *)ucmd.ubuffer);
 *     if (ret)
 *             return ret;
 *     op = &iommufd_ioctl_ops[nr - IOMMUFD_CMD_BASE];
 *     if (op->ioctl_num != cmd)
 *             return -ENOIOCTLCMD;
 * The fault drops the `op->ioctl_num != cmd` test (as if the table index
 * already identified the command): any request number whose low byte is an
 * iommufd command's nr runs that command, whatever its _IOC type, direction
 * and size bits say — _IOWR('x', 0x85, …) from another driver's header, a
 * 32-bit compat number, or a VFIO-typed number in the iommufd range.
 *
 * Consequence: the ioctl namespace check is gone. A request meant for
 * another file type (a program or library that sends a foreign ioctl to the
 * wrong fd — the very mistake _IOC type bytes exist to catch) is executed as
 * IOMMU_IOAS_MAP/UNMAP/DESTROY/… on whatever its argument happens to hold,
 * instead of failing with ENOTTY; userspace that probes for a command with a
 * differently encoded number is told it exists. (An nr in a hole of the
 * table would reach a NULL op->execute in the kernel; this module keeps
 * ENOTTY there rather than model the oops.)
 *
 * Applied as: a dispatch that failed at the table lookup (ENOTTY) for an nr
 * of an iommufd command of the profile is decoded again with that command's
 * own number — get_user(size), the min size and copy_struct_from_user then
 * run as the reference's — and executed.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation } from '../harness.ts';
import { iommufdIoctlDecode } from '../../../impl/iommufd/main.ts';
import { COMMANDS, ioctlNr } from '../../../spec/uapi/commands.ts';
import { inProfile } from '../../../spec/uapi/layout.ts';
import { IOMMUFD_CMD_BASE } from '../../../spec/uapi/constants.ts';
import { iommufdTableSize } from '../../../spec/abi/dispatch.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('ioctl-num-nr-only', profile, {
    decodeFailed: (ctx, cmd, arg, d, original, dispatch) => {
      if (d.stage !== 'unknown-cmd') return original();
      const nr = ioctlNr(cmd);
      if (nr < IOMMUFD_CMD_BASE || nr - IOMMUFD_CMD_BASE >= iommufdTableSize(ctx.profile, true)) return original();
      const op = COMMANDS.find((c) => c.fd === 'iommufd' && c.arg === 'extensible' && c.nr === nr && inProfile(c.profiles, ctx.profile));
      if (!op || op.request === cmd >>> 0) return original();
      // THE FAULT: no `op->ioctl_num != cmd` test; the slot's command runs on this argument.
      return dispatch(iommufdIoctlDecode(ctx, op.request, arg));
    },
  });
}
