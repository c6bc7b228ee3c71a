/**
 * RT42-C2 — replace-skips-group-hwpt-update (drivers/iommu/iommufd/device.c
 * iommufd_device_do_replace).
 *
 * After the group's domain was replaced, the group's record of its HWPT moves
 * to the new one, and the device references migrate:
 *
 *     rc = iommufd_hwpt_replace_device(idev, pasid, hwpt, old_hwpt);
 *     if (rc)
 *             goto err_unresv;
 *     if (old_hwpt_paging && (!hwpt_paging || hwpt_paging->ioas != old_hwpt_paging->ioas))
 *             iommufd_group_remove_reserved_iova(igroup, old_hwpt_paging);
 *     attach->hwpt = hwpt;           (6.12: igroup->hwpt = hwpt;)
 *     num_devices = list_count_nodes(&igroup->device_list);
 *     ...
 *
 * THE FAULT: the `attach->hwpt = hwpt` / `igroup->hwpt = hwpt` line is lost:
 * the hardware runs on the new domain and the references moved, but iommufd
 * still believes the group sits on the old HWPT.
 *
 * What a user sees: replacing back to the old HWPT is taken for "already
 * there" and answers 0 without touching the hardware — the device keeps
 * translating through the other IOAS (isolation); a sibling of the group is
 * refused the HWPT the group really uses (EINVAL) and accepted on the stale
 * one; the detach puts the wrong HWPT (refcount underflow, a HWPT pinned busy).
 *
 * Applied as: every iommufd_group gets its `hwpt` field as an accessor that
 * ignores a store of a HWPT over a HWPT (only do_replace does that); attach's
 * store over NULL and detach's NULL store go through. The detach that then puts
 * the stale HWPT underflows its refcount: as refcount_t, that WARNs and leaks
 * (the count is held at a value the put cannot take to zero) rather than
 * throwing as the reference's checked refcount does.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import type { IommufdGroup, IommufdHwpt } from '../../../impl/iommufd/iommufd_private.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';

function patchGroup(igroup: IommufdGroup): void {
  let hwpt: IommufdHwpt | null = igroup.hwpt;
  let stale = false;
  Object.defineProperty(igroup, 'hwpt', {
    configurable: true,
    enumerable: true,
    get: () => hwpt,
    set: (next: IommufdHwpt | null) => {
      // THE FAULT: do_replace's `igroup->hwpt = hwpt` is missing.
      if (next !== null && hwpt !== null) {
        // A replace from a HWPT the group already left (or that was freed): its
        // n-1 reference drops and the caller's put underflow; saturate as above.
        if (stale) {
          igroup.ictx.warnings.push(`refcount_t: underflow on HWPT ${hwpt.id} (stale igroup->hwpt)`);
          while (hwpt.users < igroup.deviceList.length + 2) hwpt.users++;
        }
        stale = true;
        return;
      }
      if (next === null && hwpt !== null && stale) {
        // The detach is about to put the stale HWPT, whose reference moved away:
        // refcount_t saturates at the underflow (WARN, the object leaks) instead
        // of the reference's exception.
        igroup.ictx.warnings.push(`refcount_t: underflow on HWPT ${hwpt.id} (stale igroup->hwpt)`);
        while (hwpt.users < 3) hwpt.users++;
        stale = false;
      }
      hwpt = next;
    },
  });
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('replace-skips-group-hwpt-update', profile, {
    ctx: (ctx) => {
      patchOwn(ctx.groups, 'set', (set) => (key, igroup) => {
        if (ctx.groups.get(key) !== igroup) patchGroup(igroup);
        return set(key, igroup);
      });
    },
  });
}
