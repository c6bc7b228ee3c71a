/**
 * access-item-keeps-syz-encoded-iova (drivers/iommu/iommufd/selftest.c
 * iommufd_test_access_pages, IOMMU_TEST_OP_ACCESS_PAGES with
 * MOCK_FLAGS_ACCESS_SYZ; the item it records is later used by
 * iommufd_test_access_item_destroy, iommufd_test_access_unmap and
 * iommufd_test_staccess_release).
 *
 * With MOCK_FLAGS_ACCESS_SYZ the IOVA the user passes is syzkaller's
 * encoding { u32 nth_area; u32 offset } and is turned into a real IOVA (the
 * nth area's start plus offset) before pinning. The pin and the item that
 * records it must use the same, decoded, IOVA — the item is what the
 * access later unpins, by exact range:
 *
 *     if (flags & MOCK_FLAGS_ACCESS_SYZ)
 *             iova = iommufd_test_syz_conv_iova(staccess->access,
 *                                     &cmd->access_pages.iova);
 *     ...
 *     rc = iommufd_access_pin_pages(staccess->access, iova, length, pages, ...);
 *     ...
 *     item->iova = iova;
 *     item->length = length;
 *
 * THE FAULT records the IOVA as the user wrote it:
 *
 *     item->iova = cmd->access_pages.iova;
 *
 * which is the same value without the SYZ flag, and the syzkaller encoding
 * with it. The ACCESS_PAGES itself answers exactly as the kernel does (the
 * right pages are pinned, the same item id is returned); the damage shows on
 * the later commands that go through the item:
 *   - IOMMU_TEST_OP_DESTROY_ACCESS_PAGES of the item unpins the encoded range
 *     (iommufd_access_unpin_pages finds no exact access range there: WARN),
 *     answers 0 and drops the item, and the real pages stay pinned and
 *     charged for good (pin_count, pinned_vm, RLIMIT_MEMLOCK), with
 *     area->num_accesses still raised;
 *   - IOMMU_IOAS_UNMAP of the area asks the access to unpin the area's range,
 *     which the item (at the encoded IOVA) does not meet: nothing is unpinned,
 *     the walk retries until EDEADLOCK, and the area is left mapped with
 *     prevent_access set, so every later access pin or read/write of it fails
 *     with EINVAL;
 *   - closing the access fd cannot unpin it either, so the pins survive the
 *     access, and destroying the IOAS (closing the iommufd) leaks them past
 *     the process's last close.
 *
 * Applied as: IOMMU_TEST_OP_ACCESS_PAGES runs _access_pages.ts's copy of
 * iommufd_test_access_pages whose item keeps the encoded IOVA; every unpin of
 * the selftest access goes through the shared copy of
 * iommufd_access_unpin_pages (_access_pages.ts accessUnpinHooks) whose
 * iopt_area_remove_access WARNs (recorded in the context's warnings) where
 * the kernel does, instead of the reference's assertion.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { IOMMU_TEST_OP_ACCESS_PAGES } from '../../../spec/uapi/constants.ts';
import { ioptPagesRelease } from '../../../impl/iommufd/pages.ts';
import { mutantImplementation } from '../harness.ts';
import { accessPagesHandler, accessUnpinHooks, accessUnpinPagesWith, type AreaRemoveAccess } from './_access_pages.ts';

/** iopt_area_remove_access as the kernel writes it: WARN and return when the exact range is missing. */
const removeAccess: AreaRemoveAccess = (access, area, start, last) => {
  const pages = area.pages!;
  const exact = pages.accesses.find((a) => a.start === start && a.last === last);
  if (!exact) {
    access.ctx.warnings.push(`iopt_area_remove_access: WARN_ON(!access) for [${start}, ${last}]`);
    return;
  }
  if (area.numAccesses === 0 || exact.users === 0) access.ctx.warnings.push('iopt_area_remove_access: WARN_ON(area->num_accesses == 0 || access->users == 0)');
  area.numAccesses = (area.numAccesses - 1) >>> 0;
  exact.users--;
  if (exact.users) return;
  pages.accesses.splice(pages.accesses.indexOf(exact), 1);
  ioptPagesRelease(pages, start, last);
};

const unpinPages = accessUnpinPagesWith(removeAccess);
/** iommufd_test_access_pages with THE FAULT: item->iova = cmd->access_pages.iova (the encoded IOVA), not the decoded iova that was pinned. */
const testAccessPages = accessPagesHandler({ unpinPages, itemIova: 'user' });

export function createAdapter(profile: Profile): Implementation {
  const hooks = accessUnpinHooks({ unpinPages });
  const testCmd = hooks.handlers!.IOMMU_TEST_CMD!;
  return mutantImplementation('access-item-keeps-syz-encoded-iova', profile, {
    ...hooks,
    handlers: {
      IOMMU_TEST_CMD: (ucmd, original) => (ucmd.cmd.num('op') === IOMMU_TEST_OP_ACCESS_PAGES ? testAccessPages(ucmd) : testCmd(ucmd, original)),
    },
  });
}
