/**
 * Round 7a fault (drivers/iommu/iommufd/ioas.c iommufd_option_rlimit_mode).
 *
 * IOMMU_OPTION_RLIMIT_MODE selects how a context charges pinned pages:
 * 0 = the per-user locked_vm (user_struct, shared by every process of the
 * user, io_uring style), 1 = the per-process mm->locked_vm (VFIO type1
 * style). Switching is privileged:
 *
 *     if (cmd->op == IOMMU_OPTION_OP_SET) {
 *             if (!capable(CAP_SYS_RESOURCE))
 *                     return -EPERM;
 *             xa_lock(&ictx->objects);
 *             if (!xa_empty(&ictx->objects)) ...
 *
 * The fault loses the capable() test (it was moved behind the val64 == 1
 * branch in a refactor and the 0 <-> 1 swap no longer reaches it): any
 * process may move its context to per-mm accounting. RLIMIT_MEMLOCK is then
 * enforced per process instead of per user, so an unprivileged user escapes
 * the user-wide limit by spreading pins over several processes (each gets a
 * whole RLIMIT_MEMLOCK), and the charges show up in VmLck instead of the
 * user's locked_vm.
 *
 * Applied as: IOMMU_OPTION(RLIMIT_MODE, SET) runs with CAP_SYS_RESOURCE
 * granted to the caller for the duration of the call.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { IOMMU_OPTION_OP_SET, IOMMU_OPTION_RLIMIT_MODE } from '../../../spec/uapi/constants.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('rlimit-mode-skips-capable', profile, {
    handlers: {
      IOMMU_OPTION: (ucmd, original) => {
        const { cmd, ctx } = ucmd;
        if (cmd.num('option_id') !== IOMMU_OPTION_RLIMIT_MODE || cmd.num('op') !== IOMMU_OPTION_OP_SET) return original(ucmd);
        const proc = ctx.proc;
        const had = Object.prototype.hasOwnProperty.call(proc, 'capable');
        const saved = proc.capable;
        // THE FAULT: capable(CAP_SYS_RESOURCE) is not asked.
        patchOwn(proc, 'capable', (capable) => (cap) => cap === 'CAP_SYS_RESOURCE' || capable(cap));
        try {
          return original(ucmd);
        } finally {
          if (had) Object.defineProperty(proc, 'capable', { value: saved, writable: true, configurable: true, enumerable: false });
          else delete (proc as { capable?: unknown }).capable;
        }
      },
    },
  });
}
