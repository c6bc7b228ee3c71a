/**
 * alloc-pages-length-bound-dropped — iopt_alloc_pages (drivers/iommu/iommufd/pages.c;
 * reached from iopt_map_user_pages, io_pagetable.c: IOMMU_IOAS_MAP and the VFIO
 * type1 VFIO_IOMMU_MAP_DMA).
 *
 * The kernel bounds the length before sizing the pages:
 *
 *     /*
 *      * The iommu API uses size_t as the length, and protect the DIV_ROUND_UP
 *      * below from overflow
 *      *\/
 *     if (length > SIZE_MAX - PAGE_SIZE || length == 0)
 *             return ERR_PTR(-EINVAL);
 *
 * The fault keeps only `length == 0`. A length in (SIZE_MAX - PAGE_SIZE,
 * ULONG_MAX) — IOAS_MAP itself refuses only >= ULONG_MAX — then passes
 * whenever uptr + length does not wrap (a user_va below PAGE_SIZE); 7.3's
 * iopt_alloc_user_pages tests the wrap first, 6.12's iopt_alloc_pages after
 * the bound. Such a map at a fixed IOVA with no domain attached (nothing is
 * pinned at MAP time) is accepted: an area of ~2^64 bytes over pages whose
 * npages (DIV_ROUND_UP(length + start_byte, PAGE_SIZE)) was computed from a
 * length the bound exists to keep out. On 6.12 a wrapping uptr answers
 * EOVERFLOW instead of EINVAL.
 *
 * User-visible: IOMMU_IOAS_MAP / VFIO_IOMMU_MAP_DMA of such a length succeed
 * (or answer EOVERFLOW on 6.12) where the kernel answers EINVAL. Both profiles.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation } from '../harness.ts';
import { EINVAL, ENOMEM, EOVERFLOW } from '../../../impl/lib/errno.ts';
import { err, ok, type Result } from '../../../impl/iommufd/object.ts';
import { IoptPages, PAGE_SIZE, ULONG_MAX, type Profile as P2 } from '../../../impl/iommufd/iommufd_private.ts';
import type { Process } from '../../../impl/process/process.ts';
import { ioasMapHandler, vfioMapDmaHandler } from './_map.ts';

const PN = BigInt(PAGE_SIZE);

/** iopt_alloc_pages / iopt_alloc_user_pages with the fault. */
function allocPages(proc: Process, uptr: bigint, length: bigint, writable: boolean, profile: P2 = '6.12'): Result<IoptPages> {
  // THE FAULT: `length > SIZE_MAX - PAGE_SIZE ||` dropped.
  const badLength = length === 0n;
  const wraps = uptr + length > ULONG_MAX;
  if (profile === '7.3' && wraps) return err(-EOVERFLOW);
  if (badLength) return err(-EINVAL);
  if (wraps) return err(-EOVERFLOW);
  if (proc.faults.shouldFail()) return err(-ENOMEM);
  const base = uptr - (uptr % PN);
  const npages = Number((length + (uptr - base) + PN - 1n) / PN);
  return ok(new IoptPages(proc, base, npages, writable, proc.capable('CAP_IPC_LOCK') ? 'NONE' : 'USER'));
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('alloc-pages-length-bound-dropped', profile, {
    handlers: { IOMMU_IOAS_MAP: ioasMapHandler({ allocPages }) },
    compat: { VFIO_IOMMU_MAP_DMA: vfioMapDmaHandler({ allocPages }) },
  });
}
