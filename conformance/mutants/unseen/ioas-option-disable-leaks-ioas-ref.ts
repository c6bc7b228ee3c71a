/**
 * ioas-option-disable-leaks-ioas-ref (drivers/iommu/iommufd/ioas.c
 * iommufd_ioas_option / iommufd_ioas_option_huge_pages; IOMMU_OPTION with
 * option_id IOMMU_OPTION_HUGE_PAGES).
 *
 * The kernel looks the IOAS up (iommufd_get_ioas: a users and a short-term
 * reference), runs the option in a helper and puts the lookup on every path:
 *
 *     static int iommufd_ioas_option_huge_pages(struct iommu_option *cmd,
 *                                               struct iommufd_ioas *ioas)
 *     {
 *             ...
 *             if (cmd->op == IOMMU_OPTION_OP_SET) {
 *                     if (cmd->val64 == 0)
 *                             return iopt_disable_large_pages(&ioas->iopt);
 *                     ...
 *     }
 *
 *     int iommufd_ioas_option(struct iommufd_ucmd *ucmd)
 *     {
 *             ...
 *             ioas = iommufd_get_ioas(ucmd->ictx, cmd->object_id);
 *             if (IS_ERR(ioas))
 *                     return PTR_ERR(ioas);
 *
 *             switch (cmd->option_id) {
 *             case IOMMU_OPTION_HUGE_PAGES:
 *                     rc = iommufd_ioas_option_huge_pages(cmd, ioas);
 *                     break;
 *             default:
 *                     rc = -EOPNOTSUPP;
 *             }
 *
 *             iommufd_put_object(ucmd->ictx, &ioas->obj);
 *             return rc;
 *     }
 *
 * THE FAULT: the helper is open-coded into iommufd_ioas_option (a "the
 * helper has one caller" cleanup) and its early `return
 * iopt_disable_large_pages(&ioas->iopt);` is kept as it was — the one
 * branch that now leaves the function without iommufd_put_object():
 *
 *             if (cmd->op == IOMMU_OPTION_OP_SET) {
 *                     if (cmd->val64 == 0)
 *                             return iopt_disable_large_pages(&ioas->iopt);
 *                     if (cmd->val64 == 1) {
 *                             iopt_enable_large_pages(&ioas->iopt);
 *                             rc = 0;
 *                             goto out_put;
 *                     }
 *                     ...
 *
 * The command itself answers exactly as the kernel's (0, EINVAL when
 * domains and areas both exist, EADDRINUSE, EFAULT on the val64
 * copy-back). But every IOMMU_OPTION(HUGE_PAGES, SET, 0) — succeeding or
 * not — leaves one users reference on the IOAS that nothing will ever
 * drop. Later: IOMMU_DESTROY of that IOAS answers EBUSY forever, even
 * with no HWPT, device or access left on it; when the iommufd is closed
 * the release loop never finds the IOAS at users == 1, WARNs and leaks
 * it (its areas, its allowed/reserved ranges, its pages structures). It
 * needs the option on one IOAS and a destroy (or a close) later; other
 * IOASes of the context are untouched.
 *
 * Applied as: IOMMU_OPTION for HUGE_PAGES / SET / val64 0 is a copy of
 * iommufd_option → iommufd_ioas_option with the lookup's reference kept
 * (refcount_inc: the reference does not model the short-term reference,
 * the leaked users count is what the kernel's destroy and release see);
 * every other option is the reference's.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation } from '../harness.ts';
import { EFAULT, EOPNOTSUPP } from '../../../impl/lib/errno.ts';
import { IOMMU_OPTION_HUGE_PAGES, IOMMU_OPTION_OP_SET } from '../../../spec/uapi/constants.ts';
import { iommufdGetIoas, type Ucmd } from '../../../impl/iommufd/iommufd_private.ts';
import { ioptDisableLargePages } from '../../../impl/iommufd/io_pagetable.ts';
import { refcount_inc } from '../../../impl/iommufd/object.ts';

/** iommufd_option → iommufd_ioas_option for HUGE_PAGES SET 0, with THE FAULT. */
function optionDisableLargePages(ucmd: Ucmd): number {
  const { cmd, ctx } = ucmd;
  // iommufd_option / iommufd_ioas_option: __reserved
  if (cmd.num('__reserved')) return -EOPNOTSUPP;
  const r = iommufdGetIoas(ctx, cmd.num('object_id'));
  if (r.errno) return r.errno;
  const ioas = r.value!;
  // iommufd_get_ioas took a users reference (and a short-term one) ...
  refcount_inc(ioas);
  // ... THE FAULT: `return iopt_disable_large_pages(&ioas->iopt);` skips iommufd_put_object().
  const rc = ioptDisableLargePages(ioas.iopt);
  if (rc) return rc;
  // iommufd_option: on success val64 alone is copied back.
  return ctx.proc.copyToUser(ucmd.ubuffer + BigInt(cmd.offsetOf('val64')), cmd.fieldBytes('val64')) ? 0 : -EFAULT;
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('ioas-option-disable-leaks-ioas-ref', profile, {
    handlers: {
      IOMMU_OPTION: (ucmd, original) => {
        const { cmd } = ucmd;
        const disable = cmd.num('option_id') === IOMMU_OPTION_HUGE_PAGES && cmd.num('op') === IOMMU_OPTION_OP_SET && cmd.big('val64') === 0n;
        return disable ? optionDisableLargePages(ucmd) : original(ucmd);
      },
    },
  });
}
