/**
 * access-pages-out-id-next (drivers/iommu/iommufd/selftest.c
 * iommufd_test_access_pages).
 *
 * IOMMU_TEST_OP_ACCESS_PAGES pins a range through the selftest access
 * (iommufd_access_pin_pages) and records it as an item the user later
 * releases by id with IOMMU_TEST_OP_DESTROY_ACCESS_PAGES:
 *     item->iova = iova;
 *     item->length = length;
 *     item->id = staccess->next_id++;
 *     list_add_tail(&item->items_elm, &staccess->items);
 *
 *     cmd->access_pages.out_access_pages_id = item->id;
 *     rc = iommufd_ucmd_respond(ucmd, sizeof(*cmd));
 * The fault answers from the allocator instead of the item
 * (`cmd->access_pages.out_access_pages_id = staccess->next_id;`, as a change
 * that stops dereferencing the item after the list insertion would write
 * it): the id handed back is the one the *next* pin will get, one past the
 * item's.
 *
 * Consequence: the user cannot release the pin it made. DESTROY_ACCESS_PAGES
 * with the returned id fails with ENOENT while nothing newer exists, so the
 * range stays pinned (pin counts, pinned_vm and the memlock charge) until the
 * whole access is closed or the area is unmapped; and once a newer pin
 * exists, the returned id names that newer one, so "releasing" pin A unpins
 * range B — the driver-side pin B is gone while its holder still counts on it
 * (an emulated device then DMAs through pages nothing holds), and A is never
 * released.
 *
 * Applied as: after the reference's ACCESS_PAGES succeeds, the answer's
 * out_access_pages_id is rewritten to the item's id + 1 (= next_id).
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { IOMMU_TEST_OP_ACCESS_PAGES } from '../../../spec/uapi/constants.ts';
import { iommufdUcmdRespond } from '../../../impl/iommufd/iommufd_private.ts';
import { mutantImplementation } from '../harness.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('access-pages-out-id-next', profile, {
    handlers: {
      IOMMU_TEST_CMD: (ucmd, original) => {
        if (ucmd.cmd.num('op') !== IOMMU_TEST_OP_ACCESS_PAGES) return original(ucmd);
        const rc = original(ucmd);
        if (rc) return rc;
        // THE FAULT: out_access_pages_id = staccess->next_id (already incremented), not item->id.
        const itemId = ucmd.cmd.num('access_pages.out_access_pages_id');
        ucmd.cmd.set('access_pages.out_access_pages_id', (itemId + 1) >>> 0);
        return iommufdUcmdRespond(ucmd);
      },
    },
  });
}
