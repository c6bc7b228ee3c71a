/**
 * access-pages-efault-keeps-item (drivers/iommu/iommufd/selftest.c
 * iommufd_test_access_pages, IOMMU_TEST_OP_ACCESS_PAGES; 6.12 and 7.3).
 *
 * The selftest access records every pin it makes as an item (the id handed
 * back in out_access_pages_id) so that DESTROY_ACCESS_PAGES, the unmap
 * callback and the file's release can undo exactly that pin. The item is put
 * on the list before the answer is copied back; if the copy-back faults, the
 * unwind takes the item off the list and then unpins:
 *
 *         item->iova = iova;
 *         item->length = length;
 *         item->id = staccess->next_id++;
 *         list_add_tail(&item->items_elm, &staccess->items);
 *
 *         cmd->access_pages.out_access_pages_id = item->id;
 *         rc = iommufd_ucmd_respond(ucmd, sizeof(*cmd));
 *         if (rc)
 *                 goto out_free_item;
 *         goto out_unlock;
 *
 *     out_free_item:
 *         list_del(&item->items_elm);
 *         kfree(item);
 *     out_unaccess:
 *         iommufd_access_unpin_pages(staccess->access, iova, length);
 *
 * THE FAULT sends the copy-back failure to the label of the item
 * allocation failure just above it (`if (rc) goto out_unaccess;`, the
 * respond step having been added under the kzalloc check by copy and
 * paste). The pin is undone, so nothing leaks and the command answers
 * EFAULT exactly as the kernel does; but the item stays on the list, with
 * an id the caller was never told and a pin that no longer exists.
 *
 * What that does later, on other pins: iopt_area_remove_access() finds the
 * pin to drop by its page range alone (iopt_pages_get_exact_access: one
 * iopt_pages_access per range of an iopt_pages, shared by every pin of that
 * range — by the same access, by another access of the IOAS, by an access
 * of another IOAS that IOAS_COPY gave the same pages). When the phantom item
 * is released — DESTROY_ACCESS_PAGES of its id (the next id after the last
 * one the caller saw: ids are a counter), the unmap callback meeting it
 * before the real item of the same range, or simply closing the access that
 * made it while another access holds the same range —
 * it drops a pin that belongs to a live item: the pages are unpinned
 * (pin_count falls to 0, pinned_vm and locked_vm are given back) and the
 * area's num_accesses falls to 0 while the live item's owner still uses
 * them. The next IOMMU_IOAS_UNMAP of the area no longer asks that owner to
 * stop, the user may munmap the memory, and the driver writes into freed
 * pages; the live item's own release later only WARNs. DESTROY_ACCESS_PAGES
 * of the never-returned id answers 0 where the kernel answers ENOENT.
 *
 * Applied as: IOMMU_TEST_OP_ACCESS_PAGES through _access_pages.ts's copy of
 * iommufd_test_access_pages with that one label changed; every unpin of the
 * selftest access (DESTROY_ACCESS_PAGES, the unmap callback, the release)
 * goes through iommufd_access_unpin_pages whose iopt_area_remove_access
 * WARNs and returns on a range it does not find, as the kernel's does (the
 * reference asserts there instead).
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation } from '../harness.ts';
import { IOMMU_TEST_OP_ACCESS_PAGES } from '../../../spec/uapi/constants.ts';
import { ioptAreaRemoveAccess } from '../../../impl/iommufd/pages.ts';
import { accessPagesHandler, accessUnpinHooks, accessUnpinPagesWith, type AreaRemoveAccess } from './_access_pages.ts';

/** iopt_area_remove_access as the kernel writes it: `if (WARN_ON(!access)) goto out_unlock;` for a range with no pin. */
const removeAccessOrWarn: AreaRemoveAccess = (access, area, start, last) => {
  const pages = area.pages!;
  if (!pages.accesses.some((a) => a.start === start && a.last === last)) {
    access.ctx.warnings.push(`iopt_area_remove_access: WARN_ON(!access) for [${start}, ${last}]`);
    return;
  }
  ioptAreaRemoveAccess(area, start, last);
};

const unpinPages = accessUnpinPagesWith(removeAccessOrWarn);
/** iommufd_test_access_pages with THE FAULT: a failed copy-back jumps to out_unaccess, past out_free_id. */
const testAccessPages = accessPagesHandler({ unpinPages, copyFaultFreesItem: false });

export function createAdapter(profile: Profile): Implementation {
  const hooks = accessUnpinHooks({ unpinPages });
  const testCmd = hooks.handlers!.IOMMU_TEST_CMD!;
  return mutantImplementation('access-pages-efault-keeps-item', profile, {
    ...hooks,
    handlers: {
      IOMMU_TEST_CMD: (ucmd, original) => (ucmd.cmd.num('op') === IOMMU_TEST_OP_ACCESS_PAGES ? testAccessPages(ucmd) : testCmd(ucmd, original)),
    },
  });
}
