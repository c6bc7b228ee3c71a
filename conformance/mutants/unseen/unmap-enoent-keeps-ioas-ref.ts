/**
 * unmap-enoent-keeps-ioas-ref (drivers/iommu/iommufd/ioas.c iommufd_ioas_unmap).
 *
 * IOMMU_IOAS_UNMAP looks the IOAS up (iommufd_get_ioas takes a users and a
 * shortterm_users reference) and every exit goes through out_put, including
 * the "nothing was mapped there" answer:
 *
 *     } else {
 *             if (cmd->iova >= ULONG_MAX || cmd->length >= ULONG_MAX) {
 *                     rc = -EOVERFLOW;
 *                     goto out_put;
 *             }
 *             rc = iopt_unmap_iova(&ioas->iopt, cmd->iova, cmd->length,
 *                                  &unmapped);
 *             if (rc)
 *                     goto out_put;
 *             if (!unmapped) {
 *                     rc = -ENOENT;
 *                     goto out_put;
 *             }
 *     }
 *
 *     cmd->length = unmapped;
 *     rc = iommufd_ucmd_respond(ucmd, sizeof(*cmd));
 *
 *     out_put:
 *     iommufd_put_object(ucmd->ictx, &ioas->obj);
 *
 * The fault: the empty-range case is written as an early return,
 *
 *             if (!unmapped)
 *                     return -ENOENT;
 *
 * (it "did nothing", so nothing seems to need undoing), skipping out_put. The
 * answer is the kernel's (ENOENT, length not written back), but the IOAS keeps
 * the reference the lookup took. The other ENOENT (an area only partly inside
 * the range, from iopt_unmap_iova_range) and every other error still put it.
 *
 * Observable later, on the IOAS's lifetime: an unmap of a range with no area
 * in it — a second unmap of the same range, an unmap after the area went with
 * the domain-less path, a probe — leaves the IOAS one reference more. Its
 * IOMMU_DESTROY then fails with EBUSY (refcount_dec_if_one) although nothing
 * uses it, and closing the iommufd cannot destroy it either
 * (iommufd_fops_release WARNs "Bug related to users refcount" and stops): its
 * areas and their pages stay.
 *
 * Applied on IOMMU_IOAS_UNMAP: a copy of the reference's handler with the
 * early return (one more users reference on the IOAS).
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation } from '../harness.ts';
import { ENOENT, EOVERFLOW } from '../../../impl/lib/errno.ts';
import { refcount_inc } from '../../../impl/iommufd/object.ts';
import { iommufdGetIoas, iommufdUcmdRespond, ULONG_MAX } from '../../../impl/iommufd/iommufd_private.ts';
import { ioptUnmapAll, ioptUnmapIova } from '../../../impl/iommufd/io_pagetable.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('unmap-enoent-keeps-ioas-ref', profile, {
    handlers: {
      // iommufd_ioas_unmap
      IOMMU_IOAS_UNMAP: (ucmd) => {
        const { cmd, ctx } = ucmd;
        const r = iommufdGetIoas(ctx, cmd.num('ioas_id'));
        if (r.errno) return r.errno;
        const ioas = r.value!;
        const iova = cmd.big('iova');
        const length = cmd.big('length');
        const unmapped = { bytes: 0n };
        let rc: number;
        if (iova === 0n && length === ULONG_MAX) {
          rc = ioptUnmapAll(ioas.iopt, unmapped);
          if (rc) return rc;
        } else {
          if (iova >= ULONG_MAX || length >= ULONG_MAX) return -EOVERFLOW;
          rc = ioptUnmapIova(ioas.iopt, iova, length, unmapped);
          if (rc) return rc;
          if (!unmapped.bytes) {
            // THE FAULT: `return -ENOENT;` skips out_put's iommufd_put_object().
            refcount_inc(ioas);
            return -ENOENT;
          }
        }
        cmd.set('length', unmapped.bytes);
        return iommufdUcmdRespond(ucmd);
      },
    },
  });
}
