/**
 * access-check-pages-frame-not-advanced (drivers/iommu/iommufd/selftest.c,
 * iommufd_test_check_pages, called by iommufd_test_access_pages for
 * IOMMU_TEST_OP_ACCESS_PAGES with a non-NULL uptr).
 *
 * The kernel compares, page by page, the frame behind uptr with the frame
 * the access pinned at the same index:
 *
 *     for (; npages; npages--) {
 *             ...
 *             rc = get_user_pages_fast((uintptr_t)uptr, 1, 0, tmp_pages);
 *             ...
 *             put_page(tmp_pages[0]);
 *             if (tmp_pages[0] != *pages)
 *                     return -EBADE;
 *             pages++;
 *             uptr += PAGE_SIZE;
 *     }
 *
 * THE FAULT (one forgotten line): `pages++;` is missing, so every user page
 * is compared with the first pinned frame.
 *
 * What a user sees: a one-page ACCESS_PAGES works, but pinning two or more
 * pages with uptr set fails with EBADE (goto out_unaccess: the pins are
 * dropped, no item is made) although the access pinned exactly the frames
 * behind uptr; only uptr = NULL (syzkaller's skip) pins multi-page ranges.
 *
 * Applied as: after the reference's ACCESS_PAGES succeeds with uptr set, the
 * faulty comparison is evaluated over the same pages; where it would fail,
 * the item is taken back, its pins dropped, next_id restored, the user's
 * argument left as it was, and EBADE returned. Both profiles.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { IOMMU_TEST_OP_ACCESS_PAGES } from '../../../spec/uapi/constants.ts';
import { SelftestAccess } from '../../../impl/iommufd/selftest.ts';
import { iommufdAccessUnpinPages } from '../../../impl/iommufd/access.ts';
import { PAGE_SIZE } from '../../../impl/iommufd/iommufd_private.ts';
import { EBADE } from '../../../impl/lib/errno.ts';
import { mutantImplementation } from '../harness.ts';

const P = BigInt(PAGE_SIZE);

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('access-check-pages-frame-not-advanced', profile, {
    handlers: {
      IOMMU_TEST_CMD: (ucmd, original) => {
        if (ucmd.cmd.num('op') !== IOMMU_TEST_OP_ACCESS_PAGES) return original(ucmd);
        const { ctx } = ucmd;
        const file = ctx.proc.fds.fget(ucmd.cmd.num('id'));
        const staccess = file?.private_data instanceof SelftestAccess ? file.private_data : undefined;
        file?.put();
        const nextId = staccess?.nextId ?? 0;
        const itemsBefore = staccess?.items.length ?? 0;
        const saved = ctx.proc.copyFromUser(ucmd.ubuffer, ucmd.userSize);
        const rc = original(ucmd);
        const uptr = ucmd.cmd.big('access_pages.uptr');
        if (rc || !staccess || !uptr || staccess.items.length !== itemsBefore + 1) return rc;
        const item = staccess.items[staccess.items.length - 1]!;
        const npages = (item.iova + item.length - 1n) / P - item.iova / P + 1n;
        const base = uptr - (item.iova % P);
        const first = ctx.proc.translateVa(base);
        let bad = false;
        for (let i = 1n; i < npages && !bad; i++) {
          const t = ctx.proc.translateVa(base + i * P);
          if (!t || !first || t.pfn !== first.pfn) bad = true; // THE FAULT: compared with *pages, never advanced
        }
        if (!bad) return rc;
        staccess.items.splice(staccess.items.indexOf(item), 1);
        iommufdAccessUnpinPages(staccess.access!, item.iova, item.length);
        staccess.nextId = nextId;
        if (saved) ctx.proc.copyToUser(ucmd.ubuffer, saved);
        return -EBADE;
      },
    },
  });
}
