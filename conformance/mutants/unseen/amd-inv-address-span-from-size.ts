/**
 * amd-inv-address-span-from-size — drivers/iommu/amd/iommu.c build_inv_address,
 * the INVALIDATE_IOMMU_PAGES address/size encoding every AMD IOTLB flush
 * (amd_iommu_iotlb_sync -> amd_iommu_domain_flush_pages) goes through.
 *
 * The command invalidates one naturally aligned power-of-two block (S=1: the
 * run of ones above bit 12 gives its size), so the block must be the smallest
 * aligned one that holds both ends of [address, last]: its size comes from the
 * highest bit in which the two ends differ.
 *
 *     7.3:  address &= GENMASK_U64(63, 12);
 *           sz_lg2 = fls64(address ^ last);
 *     6.12: end = address + size - 1;
 *           msb_diff = fls64(end ^ address) - 1;
 *
 * THE FAULT: the span is computed from the length, not from the two ends:
 *
 *     7.3:  sz_lg2 = fls64(last - address);
 *     6.12: msb_diff = fls64(size - 1) - 1;
 *
 * For a range that starts on a boundary of its own rounded-up size this is the
 * same block. For a range that crosses a larger boundary (8 KiB at 0x100f000:
 * [0x100f000, 0x1010fff] straddles 64 KiB) the block is the 8 KiB one aligned
 * down from the start ([0x100e000, 0x100ffff]), and the pages past the
 * boundary are never invalidated.
 *
 * What a user sees: after IOMMU_IOAS_UNMAP (or the destruction of the HWPT/IOAS
 * holding the mapping) of such a range on an AMD device, the device keeps
 * reaching the pages beyond the boundary through the stale IOTLB entries:
 * pages iommufd has already unpinned and handed back to the process (or to
 * someone else), and an IOVA mapped again elsewhere still reaches the old ones.
 * Both profiles (the AMD flush path is the same model).
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { hwUnits, mutantImplementation, patchOwn } from '../harness.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('amd-inv-address-span-from-size', profile, {
    machine: (m) =>
      hwUnits(m).forEach((hw) => {
        if (hw.vendor !== 'amd') return;
        patchOwn(hw, 'amdFlushRange', (flush) => (domid: number, address: number, size: number) => {
          const end = address + size - 1;
          // One page: S=0 on the page, as the reference does.
          if (Math.floor(address / 4096) === Math.floor(end / 4096)) return flush(domid, address, size);
          // THE FAULT: msb from (end - address), not from (end ^ address).
          let d = 63;
          const span = end - address;
          while (d > 0 && Math.floor(span / 2 ** d) === 0) d--;
          if (d > 51) {
            hw.amdInvalidatePages(domid, 0, 1, 1, true);
            return;
          }
          const blk = 2 ** (d + 1);
          const base = Math.floor(address / blk) * blk;
          hw.amdInvalidatePages(domid, base + (2 ** d - 4096), 1, 1, false);
        });
      }),
  });
}
