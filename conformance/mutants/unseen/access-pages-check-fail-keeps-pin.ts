/**
 * access-pages-check-fail-keeps-pin (drivers/iommu/iommufd/selftest.c
 * iommufd_test_access_pages, IOMMU_TEST_OP_ACCESS_PAGES).
 *
 * The selftest access pins [iova, iova+length) through
 * iommufd_access_pin_pages() and then checks the returned pages against the
 * user VA (iommufd_test_check_pages: -EFAULT for an unreadable uptr, -EBADE
 * for a page that is not the one behind uptr). A failed check must undo the
 * pin before the item is ever recorded:
 *     rc = iommufd_access_pin_pages(staccess->access, iova, length, pages, flags);
 *     if (rc)
 *             goto out_free_pages;
 *     if (access_pages->uptr) {
 *             rc = iommufd_test_check_pages(uptr - (iova - ALIGN_DOWN(iova, PAGE_SIZE)),
 *                                           pages, npages);
 *             if (rc)
 *                     goto out_unaccess;
 *     }
 *     ...
 * out_unaccess:
 *     iommufd_access_unpin_pages(staccess->access, iova, length);
 * out_free_pages:
 *     kvfree(pages);
 * The fault jumps to the wrong label on a failed check (`goto
 * out_free_pages`): the pin is kept, but no item records it.
 *
 * Consequence, a failed command leaving state behind: the pages stay pinned
 * (and charged) with nothing that can release them — DESTROY_ACCESS_PAGES
 * has no item id for them, the access's unmap callback and its release
 * only unpin recorded items. The area keeps num_accesses raised, so every
 * later IOMMU_IOAS_UNMAP of it (and the IOAS's own destruction) notifies
 * the accesses a hundred times in vain and fails with EDEADLOCK; the area
 * stays mapped for good, prevent_access set, and its pages pinned after
 * every file is closed (the kernel only WARNs when the iopt_pages goes).
 *
 * Applied as: a copy of the reference's iommufd_test_access_pages with that
 * one label changed.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { EBADE, EBADFD, EFAULT, ENOMEM, EOPNOTSUPP } from '../../../impl/lib/errno.ts';
import { IOMMU_TEST_OP_ACCESS_PAGES, MOCK_FLAGS_ACCESS_SYZ, MOCK_FLAGS_ACCESS_WRITE } from '../../../spec/uapi/constants.ts';
import { iommufdAccessPinPages, iommufdAccessUnpinPages } from '../../../impl/iommufd/access.ts';
import { iommufdUcmdRespond, PAGE_SIZE, type Ucmd } from '../../../impl/iommufd/iommufd_private.ts';
import { SelftestAccess, syzConvIova } from '../../../impl/iommufd/selftest.ts';
import { Unwind } from '../../../impl/lib/unwind.ts';
import { mutantImplementation } from '../harness.ts';

const SZ_16M = 16 * 1024 * 1024;
const P = BigInt(PAGE_SIZE);

/** iommufd_test_check_pages */
function checkPages(ucmd: Ucmd, uptr: bigint, pfns: readonly number[]): number {
  for (let i = 0; i < pfns.length; i++) {
    const t = ucmd.ctx.proc.translateVa(uptr + BigInt(i) * P);
    if (!t || !t.prot.read) return -EFAULT;
    if (t.pfn !== pfns[i]) return -EBADE;
  }
  return 0;
}

/** iommufd_test_access_pages with the faulty label. */
function accessPages(ucmd: Ucmd): number {
  const { cmd, ctx } = ucmd;
  let iova = cmd.big('access_pages.iova');
  const length = cmd.big('access_pages.length');
  const uptr = cmd.big('access_pages.uptr');
  const flags = cmd.num('access_pages.flags');
  if (length > BigInt(SZ_16M)) return -ENOMEM;
  if (flags & ~(MOCK_FLAGS_ACCESS_WRITE | MOCK_FLAGS_ACCESS_SYZ)) return -EOPNOTSUPP;
  // iommufd_access_get
  const file = ctx.proc.fds.fget(cmd.num('id'));
  if (!file) return -EBADFD;
  const unwind = new Unwind();
  unwind.always('out_put', () => file.put());
  if (file.kind !== 'selftest-access' || !(file.private_data instanceof SelftestAccess)) return unwind.exit(-EBADFD);
  const staccess = file.private_data;
  if (!staccess.needsPin) return unwind.exit(-EOPNOTSUPP);
  if (flags & MOCK_FLAGS_ACCESS_SYZ) iova = syzConvIova(staccess.access!, iova);
  if (ctx.faults.shouldFail()) return unwind.exit(-ENOMEM); // kvcalloc(pages)
  const pinned = iommufdAccessPinPages(staccess.access!, iova, length, (flags & MOCK_FLAGS_ACCESS_WRITE) !== 0);
  if (pinned.errno) return unwind.exit(pinned.errno);
  if (uptr) {
    const rc = checkPages(ucmd, uptr - (iova % P), pinned.value!);
    // THE FAULT: goto out_free_pages instead of out_unaccess — the pin stays, no item records it.
    if (rc) return unwind.exit(rc);
  }
  unwind.onError('out_unaccess', () => iommufdAccessUnpinPages(staccess.access!, iova, length));
  if (ctx.faults.shouldFail()) return unwind.exit(-ENOMEM); // kzalloc(item)
  const item = { iova, length, id: staccess.nextId++ };
  staccess.items.push(item);
  unwind.onError('out_free_item', () => staccess.items.splice(staccess.items.indexOf(item), 1));
  cmd.set('access_pages.out_access_pages_id', item.id);
  return unwind.exit(iommufdUcmdRespond(ucmd));
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('access-pages-check-fail-keeps-pin', profile, {
    handlers: {
      IOMMU_TEST_CMD: (ucmd, original) => (ucmd.cmd.num('op') === IOMMU_TEST_OP_ACCESS_PAGES ? accessPages(ucmd) : original(ucmd)),
    },
  });
}
