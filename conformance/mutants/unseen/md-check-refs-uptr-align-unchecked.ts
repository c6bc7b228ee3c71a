/**
 * md-check-refs-uptr-align-unchecked
 *
 * Kernel: iommufd_test_md_check_refs (drivers/iommu/iommufd/selftest.c). The
 * correct argument check:
 *
 *     if (length % PAGE_SIZE || (uintptr_t)uptr % PAGE_SIZE ||
 *         check_add_overflow((uintptr_t)uptr, (uintptr_t)length, &end))
 *             return -EINVAL;
 *
 * The fault drops the `(uintptr_t)uptr % PAGE_SIZE` term (a check lost when
 * the line was rewrapped for the overflow test). An unaligned uptr is then
 * walked page by page: get_user_pages_fast() takes the page holding each
 * unaligned address, so the op answers 0 or EIO (or EFAULT) where the kernel
 * deterministically answers EINVAL.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { checkRefsMutant } from './_check_refs.ts';

export function createAdapter(profile: Profile): Implementation {
  // THE FAULT: no (uintptr_t)uptr % PAGE_SIZE in the EINVAL test.
  return checkRefsMutant('md-check-refs-uptr-align-unchecked', profile, { checksUptrAlignment: false });
}
