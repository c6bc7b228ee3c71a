/**
 * access-add-counts-before-pin (drivers/iommu/iommufd/pages.c
 * iopt_area_add_access, called by iommufd_access_pin_pages for each area of
 * the range).
 *
 * area->num_accesses counts the in-kernel accesses that hold pages of the
 * area; iopt_unmap_iova_range refuses to tear down an area while it is
 * non-zero: it sets prevent_access, asks every access of the IOAS to unpin
 * (iommufd_access_notify_unmap) and retries, giving up with EDEADLOCK after
 * 100 tries. The correct code counts an access only once it holds the pages:
 *
 *     access = iopt_pages_get_exact_access(pages, start_index, last_index);
 *     if (access) {
 *             area->num_accesses++;
 *             access->users++;
 *             ...
 *             return 0;
 *     }
 *     access = kzalloc(sizeof(*access), GFP_KERNEL_ACCOUNT);
 *     if (!access) { rc = -ENOMEM; goto err_unlock; }
 *     rc = iopt_pages_fill_xarray(pages, start_index, last_index, out_pages);
 *     if (rc)
 *             goto err_free;
 *     ...
 *     area->num_accesses++;
 *
 * The fault is a rework that counts the access once, at the top, for both
 * paths ("area->num_accesses++" right after mutex_lock), and leaves the
 * error paths (err_free, err_unlock) as they were: when the new access
 * cannot be allocated or its pages cannot be pinned — RLIMIT_MEMLOCK
 * (ENOMEM), user memory that is gone or no longer writable (EFAULT), a failed
 * allocation — IOMMU_TEST_OP_ACCESS_PAGES fails, nothing is pinned, but the
 * area keeps a count for an access that does not exist.
 *
 * Consequence for a user: a failed pin leaves the area permanently "in use".
 * The next IOMMU_IOAS_UNMAP (or VFIO_IOMMU_UNMAP_DMA, or the IOAS's
 * destruction) covering it notifies the accesses, none of which holds
 * anything, and fails with EDEADLOCK after 100 tries: the mapping cannot be
 * removed, so every domain of the IOAS keeps mapping (and pinning) the pages
 * the user asked to unmap and a device keeps reaching them; the area is left
 * prevent_access, so accesses to it fail with EINVAL from then on; and
 * destroying the IOAS leaves the area behind (iopt_unmap_all WARNs).
 *
 * Applied as: IOMMU_TEST_OP_ACCESS_PAGES runs a copy of
 * iommufd_test_access_pages → iommufd_access_pin_pages whose per-area
 * iopt_area_add_access counts the access before it pins.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { EPERM } from '../../../impl/lib/errno.ts';
import { IOMMU_TEST_OP_ACCESS_PAGES } from '../../../spec/uapi/constants.ts';
import { ioptAreaAddAccess } from '../../../impl/iommufd/pages.ts';
import type { IoptArea } from '../../../impl/iommufd/iommufd_private.ts';
import { err, type Result } from '../../../impl/iommufd/object.ts';
import { mutantImplementation } from '../harness.ts';
import { accessPagesHandler, accessPinPagesWith } from './_access_pages.ts';

/** iopt_area_add_access with the count taken before the new access is allocated and pinned. */
function addAccessCountedFirst(area: IoptArea, start: number, last: number, write: boolean): Result<number[]> {
  if (write && !area.pages!.writable) return err(-EPERM);
  area.numAccesses++; // THE FAULT: counted before anything that can fail
  const r = ioptAreaAddAccess(area, start, last, write);
  if (r.errno) return r; // err_free / err_unlock: the count stays
  area.numAccesses--; // the reference's own count of the success
  return r;
}

const testAccessPages = accessPagesHandler({ pinPages: accessPinPagesWith({ addAccess: addAccessCountedFirst }) });

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('access-add-counts-before-pin', profile, {
    handlers: {
      IOMMU_TEST_CMD: (ucmd, original) => (ucmd.cmd.num('op') === IOMMU_TEST_OP_ACCESS_PAGES ? testAccessPages(ucmd) : original(ucmd)),
    },
  });
}
