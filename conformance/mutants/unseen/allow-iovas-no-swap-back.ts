/**
 * Round 5b fault (drivers/iommu/iommufd/io_pagetable.c
 * iopt_set_allow_iova).
 *
 * iopt_set_allow_iova swaps the new allowed tree in first and then checks it
 * against the reserved tree; on a conflict it must swap the old tree back
 * before returning -EADDRINUSE. The fault returns without the swap back: the
 * IOMMU_IOAS_ALLOW_IOVAS that failed has replaced the allowed ranges anyway
 * (and the caller frees what it thinks is the rejected list, i.e. the old
 * one). From then on automatic IOVAs are placed only inside the rejected
 * ranges (outside every range the user actually allowed), and reservations
 * that meet the rejected ranges (a device attach's reserved regions, a
 * domain's aperture) fail with EADDRINUSE: a failed ioctl with a lasting,
 * visible effect on where the kernel may put DMA mappings.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { EADDRINUSE } from '../../../impl/lib/errno.ts';
import { iommufdGetIoas, type Range } from '../../../impl/iommufd/iommufd_private.ts';
import { decodeStruct } from '../../../spec/abi/codec.ts';
import { requireLayout } from '../../../spec/uapi/layout.ts';
import { mutantImplementation } from '../harness.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('allow-iovas-no-swap-back', profile, {
    handlers: {
      IOMMU_IOAS_ALLOW_IOVAS: (ucmd, original) => {
        const rc = original(ucmd);
        if (rc !== -EADDRINUSE) return rc;
        // The list iommufd_ioas_load_iovas built (it succeeded: only the reserved check refused it).
        const { cmd, ctx } = ucmd;
        const elmSize = requireLayout(ctx.profile, 'iommu_iova_range').size;
        const allowed: Range[] = [];
        for (let i = 0; i < cmd.num('num_iovas'); i++) {
          const b = ctx.proc.copyFromUser(cmd.big('allowed_iovas') + BigInt(i * elmSize), elmSize);
          if (!b) return rc;
          const { start, last } = decodeStruct(ctx.profile, 'iommu_iova_range', b) as { start: bigint; last: bigint };
          allowed.push({ start, last });
        }
        const ioas = iommufdGetIoas(ctx, cmd.num('ioas_id'));
        if (ioas.errno) return rc;
        // THE FAULT: the new tree stays swapped in.
        ioas.value!.iopt.allowed = allowed.sort((a, b) => (a.start < b.start ? -1 : 1));
        return rc;
      },
    },
  });
}
