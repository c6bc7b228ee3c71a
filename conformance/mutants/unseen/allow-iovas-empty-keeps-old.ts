/**
 * allow-iovas-empty-keeps-old (drivers/iommu/iommufd/ioas.c
 * iommufd_ioas_allow_iovas).
 *
 * IOMMU_IOAS_ALLOW_IOVAS replaces the IOAS's allowed list atomically; an
 * empty list (num_iovas 0) is how userspace lifts the restriction, and the
 * kernel loads nothing and swaps the empty tree in:
 *
 *     allowed_iova = RB_ROOT_CACHED;
 *     rc = iommufd_ioas_load_iovas(&allowed_iova,
 *                                  u64_to_user_ptr(cmd->allowed_iovas),
 *                                  cmd->num_iovas);
 *     if (rc)
 *             goto out_free;
 *
 *     rc = iopt_set_allow_iova(&ioas->iopt, &allowed_iova);
 *
 * THE FAULT: a "nothing to load" shortcut before the load,
 * `if (!cmd->num_iovas) goto out_put;` (rc 0), so an empty list answers
 * success and leaves the old allowed ranges in place.
 *
 * What a user sees: after ALLOW_IOVAS [A] then ALLOW_IOVAS with no range,
 * automatic IOVAs are still confined to A (ENOSPC once A is full, where the
 * kernel places the map elsewhere), and anything that reserves IOVA over
 * the stale range fails with EADDRINUSE where the kernel succeeds:
 * attaching a domain whose aperture excludes A, a device whose reserved
 * region (MSI window) lies in A, IOMMU_TEST_OP_ADD_RESERVED over A.
 *
 * Applied as: a wrapper of the reference's handler that answers 0 for
 * num_iovas 0 after the checks before the load (__reserved, the IOAS id).
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation } from '../harness.ts';
import { EOPNOTSUPP } from '../../../impl/lib/errno.ts';
import { iommufdGetIoas } from '../../../impl/iommufd/iommufd_private.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('allow-iovas-empty-keeps-old', profile, {
    handlers: {
      IOMMU_IOAS_ALLOW_IOVAS: (ucmd, original) => {
        const { cmd, ctx } = ucmd;
        if (cmd.num('num_iovas') !== 0) return original(ucmd);
        if (cmd.num('__reserved')) return -EOPNOTSUPP;
        const r = iommufdGetIoas(ctx, cmd.num('ioas_id'));
        if (r.errno) return r.errno;
        // THE FAULT: if (!cmd->num_iovas) goto out_put; — the empty tree is never swapped in.
        return 0;
      },
    },
  });
}
