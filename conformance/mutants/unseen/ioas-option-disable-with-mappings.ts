/**
 * L5 — ioas-option-disable-with-mappings (iommufd iopt_disable_large_pages).
 *
 * IOMMU_OPTION(HUGE_PAGES, SET, 0) must refuse (EINVAL) while the IOAS
 * has both domains and areas: the areas are already mapped into the domains
 * with large / contiguous leaves, and disable_large_pages is what later lets
 * an unmap cut an area in the middle (iopt_area_split). The fault loses the
 * "domains already have pages mapped" check (the xa_empty(&iopt->domains)
 * half reads a stale, empty view): the option flips with large leaves in place,
 * and a later partial unmap splits an area whose domain leaf spans the cut.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation } from '../harness.ts';
import { iommufdGetIoas } from '../../../impl/iommufd/iommufd_private.ts';
import { IOMMU_OPTION_HUGE_PAGES, IOMMU_OPTION_OP_SET } from '../../../spec/uapi/constants.ts';


export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('ioas-option-disable-with-mappings', profile, {
    handlers: {
      IOMMU_OPTION: (ucmd, original) => {
        const { cmd, ctx } = ucmd;
        if (cmd.num('__reserved') || cmd.num('option_id') !== IOMMU_OPTION_HUGE_PAGES || cmd.num('op') !== IOMMU_OPTION_OP_SET || cmd.big('val64') !== 0n) return original(ucmd);
        const r = iommufdGetIoas(ctx, cmd.num('object_id'));
        if (r.errno) return original(ucmd);
        const iopt = r.value!.iopt;
        const real = iopt.domains;
        let first = true;
        // THE FAULT: the domain-list emptiness test sees no domains.
        iopt.domains = new Proxy(real, {
          get(t, p, recv) {
            if (p === 'length' && first) {
              first = false;
              return 0;
            }
            return Reflect.get(t, p, recv);
          },
        });
        try {
          return original(ucmd);
        } finally {
          iopt.domains = real;
        }
      },
    },
  });
}
