/**
 * access-pages-check-gated-by-syz-flag (iommufd_test_access_pages,
 * drivers/iommu/iommufd/selftest.c; reached by IOMMU_TEST_OP_ACCESS_PAGES
 * with uptr 0, or with MOCK_FLAGS_ACCESS_SYZ; 6.12 and 7.3).
 *
 * The kernel's code (6.12 and 7.3 alike):
 *
 *     rc = iommufd_access_pin_pages(staccess->access, iova, length, pages,
 *                                   flags & MOCK_FLAGS_ACCESS_WRITE);
 *     if (rc)
 *             goto out_unlock;
 *
 *     // For syzkaller allow uptr to be NULL to skip this check
 *     if (uptr) {
 *             rc = iommufd_test_check_pages(
 *                     uptr - (iova - ALIGN_DOWN(iova, PAGE_SIZE)), pages,
 *                     npages);
 *             if (rc)
 *                     goto out_unaccess;
 *     }
 *
 * The pinned pages are compared with the pages behind uptr (EBADE on a
 * mismatch, EFAULT for an unreadable uptr, and the pin undone) whenever a
 * uptr is given; a NULL uptr skips the comparison, whatever the flags.
 *
 * The fault: the comment's "for syzkaller" is turned into the condition:
 *
 *     if (!(flags & MOCK_FLAGS_ACCESS_SYZ)) {
 *             rc = iommufd_test_check_pages(...);
 *
 * Observable: a plain ACCESS_PAGES with uptr 0 now checks against address 0
 * and fails EFAULT (the pin undone, no item) where the kernel pins and
 * returns an item; a syzkaller-mode ACCESS_PAGES with a uptr whose pages are
 * not the pinned ones succeeds (the pin kept, an item returned) where the
 * kernel answers EBADE and unpins — so pin counts (MD_CHECK_REFS) and
 * whether a later DESTROY_ACCESS_PAGES finds the item differ too.
 *
 * Applied as: IOMMU_TEST_OP_ACCESS_PAGES runs a copy of
 * iommufd_test_access_pages over the reference's iommufd_access_pin_pages
 * with the check gated by the flag; every other test op is the reference's.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { EBADE, EFAULT, ENOMEM, EOPNOTSUPP } from '../../../impl/lib/errno.ts';
import { IOMMU_TEST_OP_ACCESS_PAGES, MOCK_FLAGS_ACCESS_SYZ, MOCK_FLAGS_ACCESS_WRITE } from '../../../spec/uapi/constants.ts';
import { iommufdUcmdRespond, PAGE_SIZE, type Ucmd } from '../../../impl/iommufd/iommufd_private.ts';
import { syzConvIova } from '../../../impl/iommufd/selftest.ts';
import { iommufdAccessUnpinPages } from '../../../impl/iommufd/access.ts';
import { Unwind } from '../../../impl/lib/unwind.ts';
import { mutantImplementation } from '../harness.ts';
import { accessGet, accessPinPagesWith } from './_access_pages.ts';

const SZ_16M = 16n * 1024n * 1024n;
const P = BigInt(PAGE_SIZE);
const pinPages = accessPinPagesWith({});

/** iommufd_test_check_pages: the pinned frames are the ones behind uptr. */
function checkPages(ucmd: Ucmd, uptr: bigint, pfns: readonly number[]): number {
  for (let i = 0; i < pfns.length; i++) {
    const t = ucmd.ctx.proc.translateVa(uptr + BigInt(i) * P);
    if (!t || !t.prot.read) return -EFAULT;
    if (t.pfn !== pfns[i]) return -EBADE;
  }
  return 0;
}

/** iommufd_test_access_pages with THE FAULT: the page check runs unless the syzkaller flag is set. */
function testAccessPages(ucmd: Ucmd): number {
  const { cmd, ctx } = ucmd;
  let iova = cmd.big('access_pages.iova');
  const length = cmd.big('access_pages.length');
  const uptr = cmd.big('access_pages.uptr');
  const flags = cmd.num('access_pages.flags');
  if (length > SZ_16M) return -ENOMEM;
  if (flags & ~(MOCK_FLAGS_ACCESS_WRITE | MOCK_FLAGS_ACCESS_SYZ)) return -EOPNOTSUPP;
  const g = accessGet(ucmd, cmd.num('id'));
  if (g.errno) return g.errno;
  const staccess = g.staccess!;
  const access = staccess.access!;
  const unwind = new Unwind();
  unwind.always('out_put', () => g.file!.put());
  if (!staccess.needsPin) return unwind.exit(-EOPNOTSUPP);
  if (flags & MOCK_FLAGS_ACCESS_SYZ) iova = syzConvIova(access, iova);
  if (ctx.faults.shouldFail()) return unwind.exit(-ENOMEM); // kvcalloc(pages)
  const pinned = pinPages(access, iova, length, (flags & MOCK_FLAGS_ACCESS_WRITE) !== 0);
  if (pinned.errno) return unwind.exit(pinned.errno);
  unwind.onError('out_unaccess', () => iommufdAccessUnpinPages(access, iova, length));
  if (!(flags & MOCK_FLAGS_ACCESS_SYZ)) {
    // THE FAULT: the kernel tests `if (uptr)`.
    const rc = checkPages(ucmd, uptr - (iova % P), pinned.value!);
    if (rc) return unwind.exit(rc);
  }
  if (ctx.faults.shouldFail()) return unwind.exit(-ENOMEM); // kzalloc(item)
  const item = { iova, length, id: staccess.nextId++ };
  staccess.items.push(item);
  unwind.onError('out_free_item', () => staccess.items.splice(staccess.items.indexOf(item), 1));
  cmd.set('access_pages.out_access_pages_id', item.id);
  return unwind.exit(iommufdUcmdRespond(ucmd));
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('access-pages-check-gated-by-syz-flag', profile, {
    handlers: {
      IOMMU_TEST_CMD: (ucmd, original) => (ucmd.cmd.num('op') === IOMMU_TEST_OP_ACCESS_PAGES ? testAccessPages(ucmd) : original(ucmd)),
    },
  });
}
