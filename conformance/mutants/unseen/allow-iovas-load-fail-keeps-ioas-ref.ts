/**
 * allow-iovas-load-fail-keeps-ioas-ref (drivers/iommu/iommufd/ioas.c
 * iommufd_ioas_allow_iovas).
 *
 * The handler holds a reference on the IOAS from iommufd_get_ioas() and, on
 * every way out, frees the new interval tree and drops that reference:
 *
 *     ioas = iommufd_get_ioas(ucmd->ictx, cmd->ioas_id);
 *     if (IS_ERR(ioas))
 *             return PTR_ERR(ioas);
 *     iopt = &ioas->iopt;
 *
 *     rc = iommufd_ioas_load_iovas(&allowed_iova,
 *                                  u64_to_user_ptr(cmd->allowed_iovas),
 *                                  cmd->num_iovas);
 *     if (rc)
 *             goto out_free;
 *     ...
 *     rc = iopt_set_allow_iova(iopt, &allowed_iova);
 *     out_free:
 *     while ((node = interval_tree_iter_first(&allowed_iova, 0, ULONG_MAX))) {
 *             ...
 *     }
 *     iommufd_put_object(ucmd->ictx, &ioas->obj);
 *     return rc;
 *
 * The fault returns straight out of the load failure, the usual early-return
 * slip in a function whose cleanup sits at a label:
 *
 *     if (rc)
 *             return rc;
 *
 * Every range list the user gets wrong — an unreadable array (EFAULT), a
 * range with start >= last or two overlapping ranges (EINVAL), an allocation
 * failure (ENOMEM) — leaks one users reference of the IOAS (and the nodes
 * loaded so far, which userspace cannot see). A rejection by
 * iopt_set_allow_iova (EADDRINUSE) still goes through out_free. The failing
 * call answers exactly as the kernel does.
 *
 * Consequence: the IOAS outlives its owner's intent. IOMMU_DESTROY of it
 * fails EBUSY forever (refcount_dec_if_one), as does the destroy that
 * vfio-compat's IOMMU_VFIO_IOAS callers rely on; closing the iommufd cannot
 * destroy it either (iommufd_fops_release stops with WARN_ON(!destroyed)),
 * so the IOAS, its areas and their iopt_pages leak for the life of the
 * system — with everything the areas still hold.
 *
 * Applied around the reference's IOMMU_IOAS_ALLOW_IOVAS: when it fails in
 * the load (EFAULT, EINVAL, ENOMEM: the errors it can only give after the
 * IOAS lookup succeeded), the reference it took is not given back.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation } from '../harness.ts';
import { EFAULT, EINVAL, ENOMEM } from '../../../impl/lib/errno.ts';
import { refcount_inc } from '../../../impl/iommufd/object.ts';

/** What iommufd_ioas_load_iovas returns (after the IOAS was found). */
const LOAD_ERRORS = new Set([-EFAULT, -EINVAL, -ENOMEM]);

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('allow-iovas-load-fail-keeps-ioas-ref', profile, {
    handlers: {
      IOMMU_IOAS_ALLOW_IOVAS: (ucmd, original) => {
        const rc = original(ucmd);
        if (LOAD_ERRORS.has(rc)) {
          // THE FAULT: `return rc` past out_free: iommufd_put_object() never runs.
          const ioas = ucmd.ctx.objects.load(ucmd.cmd.num('ioas_id'));
          if (ioas?.type === 'IOAS') refcount_inc(ioas);
        }
        return rc;
      },
    },
  });
}
