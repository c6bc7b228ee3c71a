/**
 * rw-slow-charges-reader-pins — iopt_pages_rw_slow (drivers/iommu/iommufd/pages.c).
 *
 * The kernel's slow path reads through a pfn_reader and never charges what the
 * reader pins for the copy; pfn_reader_destroy() unpins it again and npinned
 * is back at last_npinned:
 *
 *     rc = pfn_reader_first(&pfns, pages, start_index, last_index);
 *     ...
 *     while (!pfn_reader_done(&pfns)) {
 *             done = batch_rw(&pfns.batch, data, offset, length, flags);
 *             ...
 *             pfn_reader_unpin(&pfns);
 *             rc = pfn_reader_next(&pfns);
 *             ...
 *     }
 *  out_destroy:
 *     pfn_reader_destroy(&pfns);
 *
 * The fault adds the fill paths' `rc = pfn_reader_update_pinned(&pfns);`
 * after the loop (as iopt_pages_fill_xarray has it): the reader's temporary
 * pins are charged (user or mm locked_vm, mm->pinned_vm, and RLIMIT_MEMLOCK
 * tested: ENOMEM), then unpinned by pfn_reader_unpin/destroy, which only lower
 * npinned and never uncharge — last_npinned stays above npinned, so the charge
 * outlives the pins until some later unpin of the same pages resyncs it.
 *
 * User-visible: after IOMMU_TEST_OP_ACCESS_RW with MOCK_ACCESS_RW_SLOW_PATH over
 * more than one page of pages nobody holds, process_info's pinnedVmPages (and
 * lockedVmPages under MM accounting) stays raised with nothing pinned; near the
 * limit such a read fails with ENOMEM. Both profiles.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation } from '../harness.ts';
import { IOMMU_TEST_OP_ACCESS_RW } from '../../../spec/uapi/constants.ts';
import { ioptPagesCharge, ioptPagesHold } from '../../../impl/iommufd/pages.ts';
import { accessRwHandler } from './_access_rw.ts';
import { pagesRwWith } from './_rw_slow.ts';

const testAccessRw = accessRwHandler({
  pagesRw: pagesRwWith({
    hold: (pages, start, last) => ioptPagesHold(pages, start, last, 'later'),
    release: (pages, start, last) => {
      // THE FAULT: rc = pfn_reader_update_pinned(&pfns) — the reader's own pins are charged.
      const rc = ioptPagesCharge(pages);
      // pfn_reader_destroy -> pfn_reader_release_pins -> batch_unpin: unpin what nobody else holds and lower
      // npinned (iopt_pages_sub_npinned) — no update_unpinned, so nothing is uncharged.
      for (let i = start; i <= last; i++) {
        const cur = pages.pinned.get(i)!;
        cur.holders--;
        if (cur.holders === 0) {
          pages.pinned.delete(i);
          pages.proc.unpinUserPage(cur.pfn);
          pages.npinned--;
        }
      }
      return rc;
    },
  }),
});

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('rw-slow-charges-reader-pins', profile, {
    handlers: { IOMMU_TEST_CMD: (ucmd, original) => (ucmd.cmd.num('op') === IOMMU_TEST_OP_ACCESS_RW ? testAccessRw(ucmd) : original(ucmd)) },
  });
}
