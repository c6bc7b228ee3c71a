/**
 * access-pin-skips-update-pinned (drivers/iommu/iommufd/pages.c
 * iopt_pages_fill_xarray, reached from iopt_area_add_access ←
 * iommufd_access_pin_pages ← IOMMU_TEST_OP_ACCESS_PAGES).
 *
 * When an in-kernel access (an mdev/emulated device; the selftest's
 * staccess) pins pages that no domain holds yet, iopt_pages_fill_xarray pins
 * the holes from the mm and then, like every other pinning path, accounts
 * them once the work is done:
 *
 *         }
 *         rc = pfn_reader_user_update_pinned(&user, pages);
 *         if (rc)
 *                 goto out_clean_xa;
 *         user.upages = NULL;
 *         pfn_reader_user_destroy(&user, pages);
 *         return 0;
 *
 * pfn_reader_user_update_pinned → do_update_pinned charges the new pins to
 * RLIMIT_MEMLOCK (user->locked_vm, or mm->locked_vm in MM mode: ENOMEM over
 * the limit, and the unwind unpins) and to mm->pinned_vm, and moves
 * last_npinned up to npinned.
 *
 * THE FAULT: the call is lost (a refactor of the success tail that moved the
 * upages cleanup up and dropped the accounting with it). The pages are pinned
 * and pages->npinned counts them, but nothing is charged and last_npinned
 * stays behind. update_unpinned is unchanged, so unpinning them later gives
 * nothing back (npinned falls back to last_npinned): the books balance at
 * the end, but while the access holds its pins they are invisible to every
 * limit. (If a domain fill charges the same iopt_pages meanwhile, its lazy
 * npinned - last_npinned delta picks the access's pages up then.)
 *
 * Consequence: a process that may not lock memory (no CAP_IPC_LOCK, a
 * RLIMIT_MEMLOCK of L pages) pins any amount of memory long-term through an
 * access on an IOAS that has no domain — the mdev/vfio-ap/vfio-ccw case —
 * with no ENOMEM, and VmPin (mm->pinned_vm) does not show the pins. The
 * memlock limit, the only bound on how much RAM a user can make unswappable
 * and unmovable, is bypassed.
 *
 * Applied as: IOMMU_TEST_OP_ACCESS_PAGES through a copy of
 * iommufd_test_access_pages → iommufd_access_pin_pages →
 * iopt_area_add_access whose fresh pins are held (ioptPagesHold 'later')
 * and never charged (no ioptPagesCharge). Everything else is the reference's.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation } from '../harness.ts';
import { ENOMEM, EPERM } from '../../../impl/lib/errno.ts';
import { IOMMU_TEST_OP_ACCESS_PAGES } from '../../../spec/uapi/constants.ts';
import type { IoptArea } from '../../../impl/iommufd/iommufd_private.ts';
import { ioptPagesHold } from '../../../impl/iommufd/pages.ts';
import { err, ok, type Result } from '../../../impl/iommufd/object.ts';
import { accessPagesHandler, accessPinPagesWith } from './_access_pages.ts';

/** iopt_area_add_access with THE FAULT in iopt_pages_fill_xarray: the fresh pins are never charged. */
function addAccessUncharged(area: IoptArea, start: number, last: number, write: boolean): Result<number[]> {
  const pages = area.pages!;
  if (write && !pages.writable) return err(-EPERM);
  const exact = pages.accesses.find((a) => a.start === start && a.last === last);
  let pfns: number[];
  if (exact) {
    exact.users++;
    pfns = [];
    for (let i = start; i <= last; i++) pfns.push(pages.pinnedPfn(i)!);
  } else {
    if (pages.proc.faults.shouldFail()) return err(-ENOMEM); // kzalloc(access)
    // iopt_pages_fill_xarray: pin the holes … and return without pfn_reader_user_update_pinned().
    const held = ioptPagesHold(pages, start, last, 'later');
    if (held.errno) return held;
    pages.accesses.push({ start, last, users: 1 });
    pfns = held.value!;
  }
  area.numAccesses++;
  return ok(pfns);
}

const testAccessPages = accessPagesHandler({ pinPages: accessPinPagesWith({ addAccess: addAccessUncharged }) });

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('access-pin-skips-update-pinned', profile, {
    handlers: {
      IOMMU_TEST_CMD: (ucmd, original) => (ucmd.cmd.num('op') === IOMMU_TEST_OP_ACCESS_PAGES ? testAccessPages(ucmd) : original(ucmd)),
    },
  });
}
