/**
 * access-add-fail-commits-list-id (drivers/iommu/iommufd/io_pagetable.c
 * iopt_add_access, called by iommufd_access_change_ioas for
 * iommufd_access_replace: IOMMU_TEST_OP_ACCESS_REPLACE_IOAS, an mdev
 * driver moving its access to another IOAS; 6.12 and 7.3).
 *
 * An access sits in its IOAS's access_list at the slot xa_alloc gave it,
 * and remembers that slot in access->iopt_access_list_id: it is the key
 * iopt_remove_access erases when the access leaves (replace, detach,
 * destroy), and the list is what iommufd_access_notify_unmap walks and what
 * iopt_calculate_iova_alignment takes the access's alignment from. Joining a
 * new IOAS takes a slot there first and then checks that the new IOAS's
 * areas suit the access's alignment; the slot is published to the access
 * only once the join can no longer fail:
 *
 *     rc = xa_alloc(&iopt->access_list, &new_id, access, xa_limit_16b,
 *                   GFP_KERNEL_ACCOUNT);
 *     if (rc)
 *             goto out_unlock;
 *
 *     rc = iopt_calculate_iova_alignment(iopt);
 *     if (rc) {
 *             xa_erase(&iopt->access_list, new_id);
 *             goto out_unlock;
 *     }
 *     access->iopt_access_list_id = new_id;
 *
 * THE FAULT allocates straight into the access (the temporary looked
 * redundant: change_ioas already saves the old id before calling here):
 *
 *     rc = xa_alloc(&iopt->access_list, &access->iopt_access_list_id,
 *                   access, xa_limit_16b, GFP_KERNEL_ACCOUNT);
 *     if (rc)
 *             goto out_unlock;
 *
 *     rc = iopt_calculate_iova_alignment(iopt);
 *     if (rc) {
 *             xa_erase(&iopt->access_list, access->iopt_access_list_id);
 *             goto out_unlock;
 *     }
 *
 * On success nothing changes. When the alignment check refuses the join
 * (EADDRINUSE: the new IOAS has an area at a sub-page IOVA, length or user
 * offset, allowed there because nothing needed PAGE_SIZE yet), change_ioas
 * puts access->ioas back and returns the error — the access is still in its
 * old IOAS at its old slot, but now carries the number of the slot it held
 * for a moment in the other IOAS. The next time it leaves the old IOAS
 * (another replace, or its destruction), iopt_remove_access erases that
 * number from the old list (WARN_ON(xa_erase(...) != access)):
 *   - nothing there: the access stays in the old IOAS's list after it is
 *     gone — the IOAS keeps its PAGE_SIZE alignment for ever (maps and
 *     copies of sub-page granularity fail EINVAL, IOMMU_IOAS_IOVA_RANGES
 *     reports 4096) and every unmap notifies a freed access (use after free);
 *   - another access of the old IOAS there: that one is dropped from the
 *     list instead — it is never told about unmaps again, so an unmap of an
 *     area it has pinned retries a hundred times and fails EDEADLOCK, and its
 *     alignment no longer counts.
 *
 * Why it takes several commands and two objects: the access must try to move
 * to a second IOAS whose areas refuse its alignment, the slot it takes there
 * must differ from its slot at home (another access in either list), and the
 * harm shows only when it later leaves its own IOAS, on that IOAS's later
 * maps, unmaps and range queries.
 *
 * Applied as: after IOMMU_TEST_OP_ACCESS_REPLACE_IOAS fails with EADDRINUSE
 * from the new IOAS's alignment check (the access still in its IOAS), the
 * access's iopt_access_list_id is the slot the failed join took in the new
 * IOAS's list (its lowest free slot, looked up without a fallible step
 * before the reference runs). Everything else is the reference's, which
 * reads the id when the access leaves.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { EADDRINUSE } from '../../../impl/lib/errno.ts';
import { IOMMU_TEST_OP_ACCESS_REPLACE_IOAS } from '../../../spec/uapi/constants.ts';
import { SelftestAccess } from '../../../impl/iommufd/selftest.ts';
import type { IommufdIoas } from '../../../impl/iommufd/iommufd_private.ts';
import { mutantImplementation } from '../harness.ts';

/** xa_alloc's choice in an access list (XA_FLAGS_ALLOC, xa_limit_16b): the lowest free slot. */
function lowestFreeSlot(list: ReadonlyMap<number, unknown>): number {
  let id = 0;
  while (list.has(id)) id++;
  return id;
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('access-add-fail-commits-list-id', profile, {
    handlers: {
      IOMMU_TEST_CMD: (ucmd, original) => {
        const { cmd, ctx } = ucmd;
        if (cmd.num('op') !== IOMMU_TEST_OP_ACCESS_REPLACE_IOAS) return original(ucmd);
        const st = ctx.proc.fds.lookup(cmd.num('id'))?.private_data;
        const access = st instanceof SelftestAccess ? st.access : null;
        const cur = access?.ioas ?? null;
        // The IOAS the access would move to, resolved in the access's own context (no fallible lookup here).
        const target = access?.ctx.objects.load(cmd.num('access_replace_ioas.ioas_id'));
        const newIoas = target && target.type === 'IOAS' ? (target as IommufdIoas) : null;
        const slot = newIoas ? lowestFreeSlot(newIoas.iopt.accessList) : 0;
        const rc = original(ucmd);
        // THE FAULT: the refused join leaves the new list's slot number in access->iopt_access_list_id.
        if (rc === -EADDRINUSE && access && cur && newIoas && newIoas !== cur && access.ioas === cur) access.ioptAccessListId = slot;
        return rc;
      },
    },
  });
}
