/**
 * copy-map-fail-keeps-dst-ref (drivers/iommu/iommufd/ioas.c iommufd_ioas_copy).
 *
 * IOMMU_IOAS_COPY looks the destination IOAS up with a short-term reference
 * (iommufd_get_ioas → iommufd_lock_obj: users and shortterm_users) and drops
 * it on every way out once the lookup succeeded:
 *
 *     dst_ioas = iommufd_get_ioas(ucmd->ictx, cmd->dst_ioas_id);
 *     if (IS_ERR(dst_ioas)) {
 *             rc = PTR_ERR(dst_ioas);
 *             goto out_pages;
 *     }
 *     ...
 *     rc = iopt_map_pages(&dst_ioas->iopt, &pages_list, cmd->length, &iova,
 *                         conv_iommu_prot(cmd->flags), flags);
 *     if (rc)
 *             goto out_put_dst;
 *
 *     cmd->dst_iova = iova;
 *     rc = iommufd_ucmd_respond(ucmd, sizeof(*cmd));
 *     out_put_dst:
 *     iommufd_put_object(ucmd->ictx, &dst_ioas->obj);
 *     out_pages:
 *     iopt_free_pages_list(&pages_list);
 *
 * The fault: the iopt_map_pages() failure jumps to the wrong label,
 * `goto out_pages`, as the lookup failure just above does. The pages list is
 * still freed (the copy leaves nothing mapped and no pin behind), but the
 * destination's reference is never put: every copy refused by the
 * destination (its IOVA taken or reserved, misaligned for its domains, out of
 * IOVA space, a write copy of read-only pages, RLIMIT_MEMLOCK while filling
 * its domains) leaks one `users` reference on that second IOAS.
 *
 * Nothing shows at the failing copy; a later IOMMU_DESTROY of the destination
 * IOAS, with no HWPT, access or mapping left on it, is refused with EBUSY
 * (refcount_dec_if_one fails), and closing the iommufd cannot destroy it
 * either (iommufd_fops_release WARNs and leaks it with its areas). The source
 * IOAS and copies that succeed are unaffected.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation } from '../harness.ts';
import type { IommufdIoas, IoPagetable } from '../../../impl/iommufd/iommufd_private.ts';
import { ioptMapPages } from '../../../impl/iommufd/io_pagetable.ts';
import { refcount_inc } from '../../../impl/iommufd/object.ts';
import { copyHandler } from './_copy.ts';

export function createAdapter(profile: Profile): Implementation {
  /** Each IOAS by its io_pagetable (container_of). */
  const ioasOf = new Map<IoPagetable, IommufdIoas>();
  const mapPages: typeof ioptMapPages = (iopt, list, length, dstIova, prot, flags) => {
    const rc = ioptMapPages(iopt, list, length, dstIova, prot, flags);
    const dst = ioasOf.get(iopt);
    // THE FAULT: `goto out_pages` skips iommufd_put_object(ucmd->ictx, &dst_ioas->obj).
    if (rc && dst) refcount_inc(dst);
    return rc;
  };
  return mutantImplementation('copy-map-fail-keeps-dst-ref', profile, {
    handlers: { IOMMU_IOAS_COPY: copyHandler({ mapPages }) },
    object: (obj) => {
      if (obj?.type === 'IOAS') ioasOf.set((obj as IommufdIoas).iopt, obj as IommufdIoas);
    },
  });
}
