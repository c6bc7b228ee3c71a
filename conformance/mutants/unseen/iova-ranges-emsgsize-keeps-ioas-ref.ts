/**
 * iova-ranges-emsgsize-keeps-ioas-ref (drivers/iommu/iommufd/ioas.c
 * iommufd_ioas_iova_ranges).
 *
 * IOMMU_IOAS_IOVA_RANGES looks the IOAS up (iommufd_get_ioas takes a users
 * and a shortterm_users reference), walks the holes of reserved_itree, copies
 * back the header and reports -EMSGSIZE when the user's array was too small —
 * the normal way to size the array — and every exit goes through out_put:
 *
 *     rc = iommufd_ucmd_respond(ucmd, sizeof(*cmd));
 *     if (rc)
 *             goto out_put;
 *     if (cmd->num_iovas > max_iovas)
 *             rc = -EMSGSIZE;
 *     out_put:
 *     up_read(&ioas->iopt.iova_rwsem);
 *     iommufd_put_object(ucmd->ictx, &ioas->obj);
 *     return rc;
 *
 * The fault comes with a rework that drops the read side as soon as the
 * walk is over (the copy-back needs no lock) and then treats the too-small
 * array as an early exit:
 *
 *     up_read(&ioas->iopt.iova_rwsem);
 *     rc = iommufd_ucmd_respond(ucmd, sizeof(*cmd));
 *     if (rc)
 *             goto out_put;
 *     if (cmd->num_iovas > max_iovas)
 *             return -EMSGSIZE;
 *     out_put:
 *     iommufd_put_object(ucmd->ictx, &ioas->obj);
 *
 * The answer is unchanged (header copied back, then EMSGSIZE), but the IOAS
 * keeps the reference the lookup took. A classic early return past the put
 * label, on a path that is "not really an error".
 *
 * Observable later, on the IOAS's lifetime: every IOVA_RANGES call that
 * answers EMSGSIZE (num_iovas = 0 to ask for the count is the common one)
 * leaves the IOAS one reference more. IOMMU_DESTROY of that IOAS then fails
 * with EBUSY (refcount_dec_if_one), even with nothing else using it, and
 * closing the iommufd cannot destroy it either (iommufd_fops_release WARNs
 * "Bug related to users refcount" and gives up): its areas stay, their pages
 * stay pinned and charged, so the process's pinned/locked memory never
 * returns to where it was.
 *
 * Applied on IOMMU_IOAS_IOVA_RANGES: the reference's handler, then one more
 * users reference on the IOAS when it answered EMSGSIZE.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation } from '../harness.ts';
import { EMSGSIZE } from '../../../impl/lib/errno.ts';
import { refcount_inc } from '../../../impl/iommufd/object.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('iova-ranges-emsgsize-keeps-ioas-ref', profile, {
    handlers: {
      IOMMU_IOAS_IOVA_RANGES: (ucmd, original) => {
        const rc = original(ucmd);
        if (rc === -EMSGSIZE) {
          // THE FAULT: `return -EMSGSIZE;` skips out_put's iommufd_put_object().
          const ioas = ucmd.ctx.objects.load(ucmd.cmd.num('ioas_id'));
          if (ioas?.type === 'IOAS') refcount_inc(ioas);
        }
        return rc;
      },
    },
  });
}
