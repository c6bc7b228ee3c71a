/**
 * amd-iotlb-sync-size-as-last — drivers/iommu/amd/iommu.c
 * amd_iommu_iotlb_sync() → amd_iommu_domain_flush_pages() → build_inv_iommu_pages()
 * → build_inv_address() (7.3).
 *
 * 7.3 changed the AMD flush helpers from (address, size) to an inclusive
 * (address, last) pair, and build_inv_address() now derives the S-bit size
 * from the highest bit in which the two differ:
 *
 *     static inline u64 build_inv_address(u64 address, u64 last)
 *     {
 *             unsigned int sz_lg2;
 *
 *             address &= GENMASK_U64(63, 12);
 *             sz_lg2 = fls64(address ^ last);
 *             if (sz_lg2 <= 12)
 *                     return address;
 *             ...
 *             if (sz_lg2 > 13)
 *                     address |= GENMASK_U64(sz_lg2 - 2, 12);
 *             return address | CMD_INV_IOMMU_PAGES_SIZE_MASK;
 *     }
 *
 *     static void amd_iommu_iotlb_sync(struct iommu_domain *domain,
 *                                      struct iommu_iotlb_gather *gather)
 *     {
 *             ...
 *             amd_iommu_domain_flush_pages(dom, gather->start, gather->end,
 *                                          iommu_pages_list_empty(&gather->freelist) ?
 *                                          0 : CMD_INV_IOMMU_PAGES_PDE_MASK);
 *
 * 6.12's amd_iommu_iotlb_sync passed the length:
 *
 *     amd_iommu_domain_flush_pages(dom, gather->start,
 *                                  gather->end - gather->start + 1);
 *
 * THE FAULT: the conversion (or a backport merged over it) leaves the 6.12
 * argument in iotlb_sync, so the gather's length arrives where the last IOVA
 * is expected: build_inv_address(start, length). The command then covers the
 * naturally aligned block spanning start and the *length* — for most small
 * unmaps a block [0, 2^k) that happens to contain the range, so nothing looks
 * wrong. But when the length equals the start (an unmap of 64 KiB at IOVA
 * 64 KiB, 16 MiB at 16 MiB, ...) address ^ last is 0 and only the first page
 * is invalidated; and when the range crosses the power-of-two boundary above
 * its start (an area ending past 32 MiB that starts below it, ...) the block
 * stops at that boundary. Every other page of the unmap keeps its IOTLB entry.
 *
 * Plausible: a mechanical signature change whose one caller kept the old
 * expression compiles silently (both are u64), and the common test pattern
 * (a few pages at a high IOVA) still flushes a superset.
 *
 * Observable: after IOMMU_IOAS_UNMAP (or any domain unmap) of such a range on
 * an AMD device, the device's earlier cached translations stay valid: a DMA
 * to the unmapped IOVA still reads or writes the old pages — pages iommufd has
 * already unpinned and the process may have freed or reused — instead of
 * faulting. Only AMD v1 domains on the 7.3 profile (generic_pt + the new
 * build_inv_address); the IOTLB model and the rest of the flush are the
 * reference's.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { hwUnits, mutantImplementation, patchOwn } from '../harness.ts';

const GENMASK_12 = ~0xfffn;

/** fls64: index of the highest set bit, 1-based; 0 for 0. */
function fls64(x: bigint): number {
  let n = 0;
  while (x > 0n) {
    x >>= 1n;
    n++;
  }
  return n;
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('amd-iotlb-sync-size-as-last', profile, {
    machine: (m) => {
      if (profile !== '7.3') return;
      for (const hw of hwUnits(m)) {
        if (hw.vendor !== 'amd') continue;
        // amdFlushRange(domid, address, size) is the unit's amd_iommu_domain_flush_pages for the gather.
        patchOwn(hw, 'amdFlushRange', () => (domid: number, address: number, size: number) => {
          // THE FAULT: the caller hands over gather->end - gather->start + 1 as `last`.
          const last = BigInt(size);
          let addr = BigInt(address) & GENMASK_12;
          const szLg2 = fls64(addr ^ last);
          if (szLg2 <= 12) {
            hw.amdInvalidatePages(domid, Number(addr), 0, 1, false);
            return;
          }
          if (szLg2 > 52) {
            hw.amdInvalidatePages(domid, 0, 1, 1, true);
            return;
          }
          if (szLg2 > 13) addr |= ((1n << BigInt(szLg2 - 1)) - 1n) & GENMASK_12;
          hw.amdInvalidatePages(domid, Number(addr), 1, 1, false);
        });
      }
    },
  });
}
