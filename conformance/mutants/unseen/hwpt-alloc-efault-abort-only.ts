/**
 * C8.6 — hwpt-alloc-efault-abort-only (drivers/iommu/iommufd/hw_pagetable.c
 * iommufd_hwpt_alloc).
 *
 * When the copy of out_hwpt_id back to the user faults, the new HWPT is
 * undone through its destroy op before the reserved id is released:
 *     rc = iommufd_ucmd_respond(ucmd, sizeof(*cmd));
 *     if (rc)
 *             goto out_hwpt;
 *     ...
 * out_hwpt:
 *     iommufd_object_abort_and_destroy(ucmd->ictx, &hwpt->obj);
 * The fault calls iommufd_object_abort() there (only the id goes back). The
 * HWPT's destroy never runs: its domain stays in the IOAS's io_pagetable
 * (every later map is mapped and pinned for it, its aperture stays reserved
 * in IOVA_RANGES), it stays on ioas->hwpt_list, and the reference it took on
 * the IOAS is never dropped, so IOMMU_DESTROY of the IOAS is EBUSY for ever
 * and closing the iommufd leaves the IOAS (and its pins) behind.
 *
 * Applied as: IOMMU_HWPT_ALLOC is the shared copy of iommufd_hwpt_alloc
 * (_hwpt_alloc.ts) with that one label changed.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { iommufdObjectAbort } from '../../../impl/iommufd/object.ts';
import { mutantImplementation } from '../harness.ts';
import { hwptAllocWith } from './_hwpt_alloc.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('hwpt-alloc-efault-abort-only', profile, {
    handlers: {
      IOMMU_HWPT_ALLOC: hwptAllocWith({
        respondFailed: (ictx, hwpt, unwind, rc) => {
          unwind.commit();
          // THE FAULT: iommufd_object_abort, not iommufd_object_abort_and_destroy.
          iommufdObjectAbort(ictx, hwpt);
          return unwind.exit(rc);
        },
      }),
    },
  });
}
