/**
 * RT43-C3 — get-group-try-get-no-ref (drivers/iommu/iommufd/device.c
 * iommufd_group_try_get, called by iommufd_get_group from iommufd_device_bind;
 * the same code in 6.12 and 7.3).
 *
 * Every device of an iommu_group bound to one iommufd ctx shares the ctx's
 * struct iommufd_group; the second and later binds find it in ictx->groups
 * and take a reference on it:
 *
 *     static bool iommufd_group_try_get(struct iommufd_group *igroup,
 *                                       struct iommu_group *group)
 *     {
 *             if (!igroup)
 *                     return false;
 *             if (WARN_ON(igroup->group != group))
 *                     return false;
 *             return kref_get_unless_zero(&igroup->ref);
 *     }
 *
 * THE FAULT: the last line tests the count without taking a reference
 * (a "it is only a liveness test under xa_lock" simplification):
 *
 *             return kref_read(&igroup->ref) != 0;
 *
 * The shared igroup then carries one reference for all of its devices. When
 * any one of them is unbound (its VFIO cdev closed) iommufd_put_group drops
 * the last reference: the igroup is erased from ictx->groups and freed while
 * the other bound devices still point at it (idev->igroup: a use after free
 * in the kernel). The next bind of a device of that group makes a second
 * igroup for the same iommu_group, so the ctx tracks one group twice: the
 * two halves disagree about the group's HWPT and attached devices.
 *
 * What a user sees (a multi-device group, e.g. a PCIe function behind a
 * non-ACS bridge): bind A and B, close B, reopen and rebind B, attach A to an
 * IOAS, then attach B to the same IOAS: the kernel (and the reference) joins
 * B to the group's attachment (0); with the fault B's fresh igroup has no
 * HWPT, so iommufd asks the core to attach the group again while it is on
 * A's domain: EBUSY. Attaching B elsewhere answers EBUSY instead of EINVAL.
 * With B attached first and A closed while B is attached, the freed igroup
 * still lists B: the kernel's iommufd_group_release WARNs and frees it.
 *
 * Applied as: ctx->groups' lookup, when it finds a live igroup (ref > 0),
 * gives back the reference iommufd_get_group takes on it, so the count is
 * left as it was (iommufd_put_group's own lookup happens at ref 0 and is
 * untouched).
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('get-group-try-get-no-ref', profile, {
    ctx: (ctx) => {
      patchOwn(ctx.groups, 'get', (get) => (id: number) => {
        const igroup = get(id);
        // THE FAULT: kref_read() != 0 instead of kref_get_unless_zero(): no reference taken.
        if (igroup && igroup.ref > 0) igroup.ref--;
        return igroup;
      });
    },
  });
}
