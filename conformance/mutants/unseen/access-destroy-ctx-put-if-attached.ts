/**
 * access-destroy-ctx-put-if-attached (drivers/iommu/iommufd/device.c
 * iommufd_access_destroy_object, 6.12 and 7.3).
 *
 * iommufd_access_create() takes a reference on the iommufd context for the
 * access's whole life (iommufd_ctx_get(ictx), so the file cannot be released
 * under an mdev driver that still holds an access), and destroy drops it
 * whether or not the access ever reached an IOAS:
 *
 *     mutex_lock(&access->ioas_lock);
 *     if (access->ioas)
 *             WARN_ON(iommufd_access_change_ioas(access, NULL));
 *     mutex_unlock(&access->ioas_lock);
 *     if (!iommufd_access_is_internal(access))     // 7.3; 6.12 puts unconditionally
 *             iommufd_ctx_put(access->ictx);
 *
 * The fault folds the put into the detach block, pairing the context
 * reference with the IOAS it was (wrongly) thought to come with:
 *
 *     mutex_lock(&access->ioas_lock);
 *     if (access->ioas) {
 *             WARN_ON(iommufd_access_change_ioas(access, NULL));
 *             iommufd_ctx_put(access->ictx);
 *     }
 *     mutex_unlock(&access->ioas_lock);
 *
 * Every access that is destroyed attached (the normal mdev/selftest life:
 * attach, use, close) still balances. An access destroyed before any
 * attach succeeded leaks one context reference: in the selftest that is
 * IOMMU_TEST_OP_CREATE_ACCESS whose iommufd_access_attach() fails (an id
 * that is not an IOAS: ENOENT; an IOAS with a misaligned area:
 * EADDRINUSE; ENOMEM from the access list), in VFIO an emulated device
 * unbound without ever attaching. The failing command itself answers
 * exactly as it should.
 *
 * Consequence, on the other objects of the same context: closing the
 * iommufd fd no longer releases the context, so nothing in it is ever
 * destroyed — its IOASes keep their areas mapped into their domains, the
 * pages stay pinned and charged to locked_vm/pinned_vm after every fd is
 * closed, mock devices stay bound and attached, and their DMA ownership of
 * the group is never given back. The harm shows only on a later close, and
 * only through objects that have nothing to do with the access.
 *
 * Applied as: each ACCESS object's destroy detaches as the reference does
 * and puts the context only if it was attached.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';
import { iommufdAccessChangeIoas, type IommufdAccess } from '../../../impl/iommufd/access.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('access-destroy-ctx-put-if-attached', profile, {
    object: (obj, ctx) => {
      if (obj.type !== 'ACCESS') return;
      const access = obj as IommufdAccess;
      patchOwn(access, 'destroy', () => () => {
        if (access.ioas) {
          const rc = iommufdAccessChangeIoas(access, null);
          if (rc) ctx.warnings.push(`iommufd_access_destroy_object: WARN_ON(change_ioas) ${rc}`);
          // THE FAULT: the context reference goes with the IOAS; an access never attached keeps it.
          ctx.file?.put();
        }
      });
    },
  });
}
