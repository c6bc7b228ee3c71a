/**
 * Round 7a fault (drivers/iommu/iommufd/pages.c iopt_pages_rw_slow).
 *
 * iommufd_access_rw on another mm (or the selftest's SLOW_PATH) copies a
 * multi-page range through a pfn_reader: the reader pins whatever no domain
 * or access already holds, copies each batch and unpins what it pinned
 * before moving on:
 *
 *     while (!pfn_reader_done(&pfns)) {
 *             done = batch_rw(&pfns.batch, data, offset, length, flags);
 *             data += done;
 *             length -= done;
 *             offset = 0;
 *             pfn_reader_unpin(&pfns);
 *
 *             rc = pfn_reader_next(&pfns);
 *
 * The fault drops pfn_reader_unpin() (it looked redundant next to
 * pfn_reader_destroy(), which only releases pages not yet moved to the
 * batch). Every slow-path read or write of an area no domain pins leaves its
 * pages pinned with no owner: npinned grows, pfn_reader_destroy's final
 * update charges them to locked_vm/pinned_vm for good, nothing can ever
 * unpin them, and a user can exhaust RLIMIT_MEMLOCK (and pin arbitrary
 * amounts of memory, defeating compaction/migration) just by issuing
 * access reads. When the area is later unmapped its iopt_pages is released
 * still holding pins.
 *
 * Applied as: IOMMU_TEST_OP_ACCESS_RW runs the shared copy of
 * iommufd_test_access_rw → iommufd_access_rw (_access_rw.ts) over a copy of
 * iopt_pages_rw_access whose multi-page slow path gives back only the holds
 * on pages that were already pinned.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation } from '../harness.ts';
import { IOMMU_TEST_OP_ACCESS_RW } from '../../../spec/uapi/constants.ts';
import { ioptPagesHold, ioptPagesRelease } from '../../../impl/iommufd/pages.ts';
import { accessRwHandler } from './_access_rw.ts';
import { pagesRwWith } from './_rw_slow.ts';

const testAccessRw = accessRwHandler({
  pagesRw: pagesRwWith({
    hold: (pages, start, last) => ioptPagesHold(pages, start, last),
    release: (pages, _start, _last, wasHeld) => {
      // THE FAULT: no pfn_reader_unpin(): the pages the reader pinned itself stay pinned (and charged).
      for (const i of wasHeld) ioptPagesRelease(pages, i, i);
      return 0;
    },
  }),
});

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('rw-slow-skips-reader-unpin', profile, {
    handlers: { IOMMU_TEST_CMD: (ucmd, original) => (ucmd.cmd.num('op') === IOMMU_TEST_OP_ACCESS_RW ? testAccessRw(ucmd) : original(ucmd)) },
  });
}
