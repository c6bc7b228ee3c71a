/**
 * alloc-pages-end-wrap-off-by-one (drivers/iommu/iommufd/pages.c
 * iopt_alloc_pages in 6.12, iopt_alloc_user_pages in 7.3; reached by
 * IOMMU_IOAS_MAP and VFIO_IOMMU_MAP_DMA through iopt_map_user_pages).
 *
 * The kernel (7.3; 6.12 makes the same test after the length bound):
 *
 *     struct iopt_pages *iopt_alloc_user_pages(void __user *uptr,
 *                                              unsigned long length, bool writable)
 *     {
 *             ...
 *             if (check_add_overflow((unsigned long)uptr, length, &end))
 *                     return ERR_PTR(-EOVERFLOW);
 *
 * `end` is exclusive: a buffer whose last byte is the last byte of the
 * address space (uptr + length == 2^64) already overflows and is refused.
 * The fault computes the inclusive last byte instead
 * (`check_add_overflow((unsigned long)uptr, length - 1, &last)`), the classic
 * end-versus-last slip, so exactly that buffer passes.
 *
 * Observable: IOMMU_IOAS_MAP (or VFIO_IOMMU_MAP_DMA) of user_va = 2^64 - n,
 * length n: the kernel answers -EOVERFLOW; the fault creates an area over user
 * memory that wraps the address space: with no domain the map succeeds (and
 * a later UNMAP returns its length); with a domain it fails at the pin
 * (-EFAULT) instead of -EOVERFLOW. In 7.3, a length above SIZE_MAX - PAGE_SIZE
 * at such a user_va answers -EINVAL instead of -EOVERFLOW.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation } from '../harness.ts';
import { EINVAL, ENOMEM } from '../../../impl/lib/errno.ts';
import { err, ok, type Result } from '../../../impl/iommufd/object.ts';
import { IoptPages, PAGE_SIZE, ULONG_MAX, type Profile as P2 } from '../../../impl/iommufd/iommufd_private.ts';
import { ioptAllocPages } from '../../../impl/iommufd/pages.ts';
import type { Process } from '../../../impl/process/process.ts';
import { ioasMapHandler, vfioMapDmaHandler } from './_map.ts';

const PN = BigInt(PAGE_SIZE);
const MAX_PAGES_LENGTH = ULONG_MAX - PN;

/** iopt_alloc_pages / iopt_alloc_user_pages with the wrap test on the last byte. */
function allocPages(proc: Process, uptr: bigint, length: bigint, writable: boolean, profile: P2 = '6.12'): Result<IoptPages> {
  // THE FAULT: only uptr + length == 2^64 behaves differently (`length - 1` does not overflow there).
  if (length === 0n || uptr + length !== ULONG_MAX + 1n) return ioptAllocPages(proc, uptr, length, writable, profile);
  if (length > MAX_PAGES_LENGTH) return err(-EINVAL);
  if (proc.faults.shouldFail()) return err(-ENOMEM);
  const base = uptr - (uptr % PN);
  const npages = Number((length + (uptr - base) + PN - 1n) / PN);
  return ok(new IoptPages(proc, base, npages, writable, proc.capable('CAP_IPC_LOCK') ? 'NONE' : 'USER'));
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('alloc-pages-end-wrap-off-by-one', profile, {
    handlers: { IOMMU_IOAS_MAP: ioasMapHandler({ allocPages }) },
    compat: { VFIO_IOMMU_MAP_DMA: vfioMapDmaHandler({ allocPages }) },
  });
}
