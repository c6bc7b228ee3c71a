/**
 * M2 (access objects, ACCESS_REPLACE_IOAS): iommufd_access_change_ioas calls
 * iopt_add_access on the new IOAS — which overwrites
 * access->iopt_access_list_id with the slot in the new IOAS's access list —
 * before iopt_remove_access on the old one, which erases
 * access->iopt_access_list_id from the old list. The old list loses whatever
 * sits at the *new* index (nothing, or another access), and keeps this
 * access at its old index. Upstream: "iommufd: Fix iopt_access_list_id
 * overwrite bug" (Fixes: 9227da7816dd "iommufd: Add
 * iommufd_access_change_ioas(_id) helpers").
 *
 * Consequence (only when the two slots differ): unmaps in the old IOAS keep
 * notifying the moved access (its driver drops and unpins items that live in
 * the new IOAS), and another access of the old IOAS sitting at the new index
 * is never told to unpin (its unmap spins to EDEADLOCK).
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { IOMMU_TEST_OP_ACCESS_REPLACE_IOAS } from '../../../spec/uapi/constants.ts';
import { SelftestAccess } from '../../../impl/iommufd/selftest.ts';
import { mutantImplementation } from '../harness.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('access-list-id-overwrite', profile, {
    handlers: {
      IOMMU_TEST_CMD: (ucmd, original) => {
        const { cmd, ctx } = ucmd;
        if (cmd.num('op') !== IOMMU_TEST_OP_ACCESS_REPLACE_IOAS) return original(ucmd);
        const st = ctx.proc.fds.lookup(cmd.num('id'))?.private_data;
        const access = st instanceof SelftestAccess ? st.access : null;
        const cur = access?.ioas ?? null;
        const oldId = access?.ioptAccessListId ?? 0;
        const rc = original(ucmd);
        if (rc || !access || !cur || access.ioas === cur || !access.ioas) return rc;
        const newId = access.ioptAccessListId;
        if (newId === oldId) return rc;
        // the fault: xa_erase(&cur->access_list, <new id>) instead of <old id>
        cur.iopt.accessList.delete(newId);
        cur.iopt.accessList.set(oldId, access);
        return rc;
      },
    },
  });
}
