/**
 * Fault J5 — access-rw-piece-length.
 *
 * iommufd_access_rw (device.c) walks the contiguous areas under
 * [iova, last_iova] and copies, per area, `bytes = (last - iter.cur_iova) + 1`
 * with `last = min(last_iova, iopt_area_last_iova(area))`. The fault computes
 * the piece from last_iova instead of the clamped last: the first area's
 * copy runs for the whole remaining length, through that area's iopt_pages
 * and past the area's end (iopt_pages_rw_access has no bound of its own: the
 * fast path is copy_{to,from}_user at pages->uptr + start_byte), so an
 * access read or write that spans two areas touches the user memory that
 * follows the first area in the user's address space instead of the second
 * area's pages (wrong length arithmetic at an area boundary).
 *
 * Only IOMMU_TEST_OP_ACCESS_RW is replaced: the shared copy of
 * iommufd_test_access_rw → iommufd_access_rw (_access_rw.ts) with the one
 * changed line, the piece length.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { IOMMU_TEST_OP_ACCESS_RW } from '../../../spec/uapi/constants.ts';
import { mutantImplementation } from '../harness.ts';
import { accessRwHandler } from './_access_rw.ts';

// THE FAULT: bytes = (last_iova - iter.cur_iova) + 1, not (min(last_iova, iopt_area_last_iova(area)) - cur) + 1
const testAccessRw = accessRwHandler({ pieceBytes: (last, _area, cur) => Number(last - cur + 1n) });

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('access-rw-piece-length', profile, {
    handlers: { IOMMU_TEST_CMD: (ucmd, original) => (ucmd.cmd.num('op') === IOMMU_TEST_OP_ACCESS_RW ? testAccessRw(ucmd) : original(ucmd)) },
  });
}
