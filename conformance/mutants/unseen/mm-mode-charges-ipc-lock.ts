/**
 * M3 (locked-memory accounting): iopt_map_user_pages upgrades the pages'
 * account mode to MM whenever the context is in RLIMIT_MODE 1 (or is
 * /dev/vfio/vfio), dropping the `pages->account_mode == IOPT_PAGES_ACCOUNT_USER`
 * half of the test: pages of a CAP_IPC_LOCK process (account mode NONE) are
 * charged to mm->locked_vm and limited by RLIMIT_MEMLOCK like anyone's.
 *
 * Consequence: in MM mode a privileged process's maps raise locked_vm and
 * fail ENOMEM over RLIMIT_MEMLOCK (VFIO type1 never charges CAP_IPC_LOCK).
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation } from '../harness.ts';

export function createAdapter(profile: Profile): Implementation {
  const state = { inMmMap: false };
  return mutantImplementation('mm-mode-charges-ipc-lock', profile, {
    process: (proc) => {
      const own = proc.capable.bind(proc);
      Object.defineProperty(proc, 'capable', {
        value: (cap: Parameters<typeof own>[0]) => (cap === 'CAP_IPC_LOCK' && state.inMmMap ? false : own(cap)),
        writable: true,
        configurable: true,
        enumerable: false,
      });
    },
    iommufdIoctl: (ctx, d, original) => {
      const name = d.ok ? d.command.name : '';
      if ((name !== 'IOMMU_IOAS_MAP' && name !== 'VFIO_IOMMU_MAP_DMA') || ctx.accountMode !== 'MM') return original();
      state.inMmMap = true;
      try {
        return original();
      } finally {
        state.inMmMap = false;
      }
    },
  });
}
