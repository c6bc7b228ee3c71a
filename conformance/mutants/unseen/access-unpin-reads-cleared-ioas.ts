/**
 * Round 7a fault (drivers/iommu/iommufd/device.c iommufd_access_unpin_pages,
 * as called from iommufd_access_change_ioas).
 *
 * Replacing (or detaching) an access's IOAS sets access->ioas = NULL to
 * block new pins, then calls the driver's ops->unmap(0, ULONG_MAX), which
 * must unpin everything the driver pinned in the old IOAS. That is why
 * unpinning reads a second pointer:
 *
 *     access->ioas = NULL;   // blocks iommufd_access_pin_pages()
 *     ...                    // iommufd_access_unpin_pages() can continue using access->ioas_unpin
 *     access->ops->unmap(access->data, 0, ULONG_MAX);
 *
 *     void iommufd_access_unpin_pages(...)
 *             if (WARN_ON(!access->ioas_unpin)) ...
 *             iopt = &access->ioas_unpin->iopt;
 *
 * The fault reverts unpin to the single pointer (`if (!access->ioas) return;
 * iopt = &access->ioas->iopt;`), which is NULL exactly while the driver is
 * asked to unpin during the change: the driver believes its pins are gone
 * (drops its items), but the pages stay pinned in the old IOAS, the areas
 * keep num_accesses > 0 with no access left on the IOAS to notify, and the
 * pinned_vm / locked_vm charge is never returned. A later IOMMU_IOAS_UNMAP
 * of those areas spins on the notifier and fails -EDEADLOCK, and the pages
 * leak pinned until the IOAS is destroyed (where unmap-all WARNs).
 *
 * Applied as: the access's ops->unmap, when called while access->ioas is
 * NULL (inside iommufd_access_change_ioas), runs with access->ioas_unpin
 * hidden as well.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import type { IommufdAccess } from '../../../impl/iommufd/access.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('access-unpin-reads-cleared-ioas', profile, {
    object: (obj) => {
      if (obj?.type !== 'ACCESS') return;
      const access = obj as IommufdAccess;
      patchOwn(access.ops, 'unmap', (unmap) => (iova, length) => {
        const unpin = access.ioasUnpin;
        if (access.ioas !== null || unpin === null) return unmap(iova, length);
        // THE FAULT: iommufd_access_unpin_pages reads access->ioas, NULL during the change.
        access.ioasUnpin = null;
        try {
          unmap(iova, length);
        } finally {
          access.ioasUnpin = unpin;
        }
      });
    },
  });
}
