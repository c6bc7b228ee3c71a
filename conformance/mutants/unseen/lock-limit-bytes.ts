/**
 * Round 6b fault (drivers/iommu/iommufd/pages.c incr_user_locked_vm, and the
 * same lock_limit in the MM accounting mode).
 *
 * The charge of newly pinned pages compares the per-user locked_vm (in pages)
 * with lock_limit = task_rlimit(current, RLIMIT_MEMLOCK) >> PAGE_SHIFT. The
 * fault drops the `>> PAGE_SHIFT`: lock_limit is the limit in bytes, 4096
 * times too large, so the comparison `new_pages > lock_limit` practically
 * never refuses. A process without CAP_IPC_LOCK can pin (and have the IOMMU
 * map) far more memory than its RLIMIT_MEMLOCK allows: IOMMU_IOAS_MAP,
 * IOAS_COPY and the first domain's fill succeed where they must fail with
 * -ENOMEM, and locked_vm grows past the limit.
 *
 * Applied as: the process's rlimitMemlockPages answers the limit in bytes.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('lock-limit-bytes', profile, {
    process: (proc) => {
      // THE FAULT: lock_limit = task_rlimit(current, RLIMIT_MEMLOCK); (no >> PAGE_SHIFT)
      patchOwn(proc, 'rlimitMemlockPages', () => () => (proc.rlimitMemlock === null ? Infinity : Number(proc.rlimitMemlock)));
    },
  });
}
