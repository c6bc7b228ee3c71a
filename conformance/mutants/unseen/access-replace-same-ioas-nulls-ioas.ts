/**
 * access-replace-same-ioas-nulls-ioas (drivers/iommu/iommufd/device.c
 * iommufd_access_change_ioas, reached by iommufd_access_replace:
 * IOMMU_TEST_OP_ACCESS_REPLACE_IOAS, a mediated driver's re-attach).
 *
 * To move an access, change_ioas first blocks new pins by clearing
 * access->ioas (pins then fail ENOENT; unpins keep going through
 * access->ioas_unpin), joins the new IOAS, unpins and leaves the old one and
 * finally publishes the new one in both pointers. A replace onto the IOAS
 * the access already uses is a no-op, answered before anything is touched:
 *
 *     if (cur_ioas != access->ioas_unpin)
 *             return -EBUSY;
 *
 *     if (cur_ioas == new_ioas)
 *             return 0;
 *
 *     access->ioas = NULL;
 *
 *     if (new_ioas) {
 *             rc = iopt_add_access(&new_ioas->iopt, access);
 *     ...
 *     access->ioas = new_ioas;
 *     access->ioas_unpin = new_ioas;
 *
 * THE FAULT moves the blocking store above the no-op test ("block pins as
 * soon as we know we are not racing a detach"):
 *
 *     if (cur_ioas != access->ioas_unpin)
 *             return -EBUSY;
 *
 *     access->ioas = NULL;
 *
 *     if (cur_ioas == new_ioas)
 *             return 0;
 *
 * so a replace onto the same IOAS returns 0 with access->ioas left NULL and
 * access->ioas_unpin still the IOAS. The access stays in the IOAS's
 * access_list and keeps its reference on the IOAS; its existing pins are
 * intact and can still be unpinned.
 *
 * Why it needs several commands and two objects: the replace itself
 * succeeds and answers exactly as it should; only later commands see the
 * half-detached access — and its IOAS, which it can no longer leave:
 *   - every later IOMMU_TEST_OP_ACCESS_PAGES / ACCESS_RW fails ENOENT
 *     (access->ioas NULL), and a later ACCESS_REPLACE_IOAS to any IOAS fails
 *     ENOENT (iommufd_access_replace: !access->ioas), so the device can
 *     never use an IOAS again;
 *   - when the driver destroys the access (closing the selftest access fd),
 *     iommufd_access_destroy_object only leaves the IOAS `if (access->ioas)`:
 *     it never does, so the freed access stays in iopt->access_list (a later
 *     unmap notification of that IOAS calls into freed memory), the IOAS
 *     keeps the access's PAGE_SIZE alignment and keeps the users reference
 *     the access took. IOMMU_DESTROY of the IOAS is EBUSY for the rest of the
 *     context's life, and closing /dev/iommu cannot free it
 *     (iommufd_fops_release's WARN_ON(!destroyed)): the IOAS leaks.
 *
 * Applied as: after the reference's ACCESS_REPLACE_IOAS answers 0 for a
 * replace onto the IOAS the access is attached to (its no-op path), the
 * access's ioas is left NULL.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { IOMMU_TEST_OP_ACCESS_REPLACE_IOAS } from '../../../spec/uapi/constants.ts';
import { SelftestAccess } from '../../../impl/iommufd/selftest.ts';
import { mutantImplementation } from '../harness.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('access-replace-same-ioas-nulls-ioas', profile, {
    handlers: {
      IOMMU_TEST_CMD: (ucmd, original) => {
        const { cmd, ctx } = ucmd;
        if (cmd.num('op') !== IOMMU_TEST_OP_ACCESS_REPLACE_IOAS) return original(ucmd);
        // Read without a lookup of our own (iommufd_get_object is a fail-nth site).
        const st = ctx.proc.fds.lookup(cmd.num('id'))?.private_data;
        const access = st instanceof SelftestAccess ? st.access : null;
        const cur = access?.ioas ?? null;
        const same = cur !== null && ctx.objects.load(cmd.num('access_replace_ioas.ioas_id')) === cur;
        const rc = original(ucmd);
        // THE FAULT: access->ioas = NULL ran before the cur_ioas == new_ioas early return.
        if (rc === 0 && same && access && access.ioas === cur && access.ioasUnpin === cur) access.ioas = null;
        return rc;
      },
    },
  });
}
