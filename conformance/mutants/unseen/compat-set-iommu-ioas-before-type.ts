/**
 * RT43-C1 — compat-set-iommu-ioas-before-type (drivers/iommu/iommufd/vfio_compat.c
 * iommufd_vfio_set_iommu; the same code in 6.12 and 7.3).
 *
 * VFIO_SET_IOMMU on an iommufd used as a type1 container refuses a type it
 * does not emulate before it looks for the compat IOAS:
 *
 *     if ((type != VFIO_TYPE1_IOMMU && type != VFIO_TYPE1v2_IOMMU) ||
 *         no_iommu_mode)
 *             return -EINVAL;
 *
 *     /* VFIO fails the set_iommu if there is no group *\/
 *     ioas = get_compat_ioas(ictx);
 *     if (IS_ERR(ioas))
 *             return PTR_ERR(ioas);
 *
 * THE FAULT: a cleanup hoists the compat IOAS lookup (and its "no group"
 * failure) above the type test, so an unsupported type on a container that
 * has no IOAS yet answers ENODEV instead of EINVAL:
 *
 *     ioas = get_compat_ioas(ictx);
 *     if (IS_ERR(ioas))
 *             return PTR_ERR(ioas);
 *     if ((type != VFIO_TYPE1_IOMMU && type != VFIO_TYPE1v2_IOMMU) || no_iommu_mode) {
 *             iommufd_put_object(ictx, &ioas->obj);
 *             return -EINVAL;
 *     }
 *
 * What a user sees: a VMM probing container types (VFIO_SET_IOMMU with
 * VFIO_SPAPR_TCE_IOMMU, VFIO_NOIOMMU_IOMMU, ...) before any group/IOAS is
 * attached gets ENODEV ("no group yet: retry after attaching") where type1
 * VFIO and iommufd answer EINVAL ("this type is not supported"); with an IOAS
 * in place the answer is unchanged.
 *
 * Applied as: VFIO_SET_IOMMU (an integer argument, outside the handler
 * table) with an unsupported type and no live compat IOAS answers ENODEV.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { VFIO_TYPE1_IOMMU, VFIO_TYPE1v2_IOMMU } from '../../../spec/uapi/constants.ts';
import { iommufdVfioCompatIoasGetId } from '../../../impl/iommufd/vfio_compat.ts';
import { mutantImplementation } from '../harness.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('compat-set-iommu-ioas-before-type', profile, {
    iommufdIoctl: (ctx, d, original) => {
      if (!d.ok || d.command.name !== 'VFIO_SET_IOMMU' || d.kind !== 'int') return original();
      const type = d.arg;
      const supported = (type === BigInt(VFIO_TYPE1_IOMMU) || type === BigInt(VFIO_TYPE1v2_IOMMU)) && !ctx.noIommuMode;
      if (supported || ctx.noIommuMode) return original(); // (the NOIOMMU branch comes first in both)
      // THE FAULT: get_compat_ioas() before the type test.
      const r = iommufdVfioCompatIoasGetId(ctx);
      if (r.errno) return r.errno;
      return original(); // -EINVAL, as before
    },
  });
}
