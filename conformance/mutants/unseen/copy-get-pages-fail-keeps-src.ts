/**
 * copy-get-pages-fail-keeps-src (drivers/iommu/iommufd/ioas.c
 * iommufd_ioas_copy).
 *
 * IOMMU_IOAS_COPY looks the source IOAS up (iommufd_get_ioas takes a users
 * and a shortterm_users reference), gathers the source pages, and drops the
 * lookup reference before it looks at the result:
 *
 *     src_ioas = iommufd_get_ioas(ucmd->ictx, cmd->src_ioas_id);
 *     if (IS_ERR(src_ioas))
 *             return PTR_ERR(src_ioas);
 *     rc = iopt_get_pages(&src_ioas->iopt, cmd->src_iova, cmd->length,
 *                         &pages_list);
 *     iommufd_put_object(ucmd->ictx, &src_ioas->obj);
 *     if (rc)
 *             return rc;
 *
 * THE FAULT: the put is moved below the error check (as a refactor that
 * "only drops the reference once the pages are ours" would write it):
 *
 *     if (rc)
 *             return rc;
 *     iommufd_put_object(ucmd->ictx, &src_ioas->obj);
 *
 * so every COPY whose source range is refused by iopt_get_pages — not fully
 * mapped (ENOENT), length 0 (EINVAL), wrapping (EOVERFLOW), an allocation
 * failure (ENOMEM) — leaks a reference on the source IOAS.
 *
 * Consequence for a user: after one failed COPY the source IOAS can never be
 * destroyed: IOMMU_DESTROY answers EBUSY (refcount_dec_if_one fails) although
 * nothing uses it, and closing the iommufd cannot free it either
 * (iommufd_fops_release WARNs and leaks the IOAS with its areas, its
 * iopt_pages and the mm/task references they hold). A process can do this in
 * a loop to pin kernel memory (a leak a user can drive at will).
 *
 * Applied as: IOMMU_IOAS_COPY through a copy of the reference's handler
 * (_copy.ts) whose iopt_get_pages step, when it fails, leaves one more users
 * reference on the source IOAS (the reference models no shortterm_users: the
 * users count alone makes IOMMU_DESTROY answer EBUSY, as the kernel does).
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation } from '../harness.ts';
import { ioptGetPages } from '../../../impl/iommufd/io_pagetable.ts';
import { refcount_inc } from '../../../impl/iommufd/object.ts';
import type { IommufdIoas, Ucmd } from '../../../impl/iommufd/iommufd_private.ts';
import { copyHandler } from './_copy.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('copy-get-pages-fail-keeps-src', profile, {
    handlers: {
      IOMMU_IOAS_COPY: (ucmd: Ucmd) =>
        copyHandler({
          getPages: (iopt, iova, length, list) => {
            const rc = ioptGetPages(iopt, iova, length, list);
            if (rc) {
              // THE FAULT: return rc before iommufd_put_object(src_ioas).
              for (const [, obj] of ucmd.ctx.objects.entries()) {
                if (obj.type === 'IOAS' && (obj as IommufdIoas).iopt === iopt) refcount_inc(obj);
              }
            }
            return rc;
          },
        })(ucmd),
    },
  });
}
