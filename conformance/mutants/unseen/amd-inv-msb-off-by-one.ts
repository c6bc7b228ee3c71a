/**
 * L3 — amd-inv-msb-off-by-one (drivers/iommu/amd/iommu.c build_inv_address).
 *
 * INVALIDATE_IOMMU_PAGES with S=1 encodes a naturally aligned power-of-two
 * block by the run of 1s above bit 12: msb_diff = fls64(end ^ address) - 1,
 * address |= (1 << msb_diff) - 1. The fault takes msb_diff one too small
 * (the 0-based __fls result minus one again): the encoded block is half the
 * size needed — it holds the start of the range but not its end, which lies
 * across bit msb_diff. Multi-page unmaps crossing such a boundary leave the
 * tail's IOTLB / PDE-cache entries behind.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { hwUnits, mutantImplementation, patchOwn } from '../harness.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('amd-inv-msb-off-by-one', profile, {
    machine: (m) =>
      hwUnits(m).forEach((hw) => {
        if (hw.vendor !== 'amd') return;
        patchOwn(hw, 'amdFlushRange', () => (domid: number, address: number, size: number) => {
          const end = address + size - 1;
          if (Math.floor(address / 4096) === Math.floor(end / 4096)) {
            hw.amdInvalidatePages(domid, Math.floor(address / 4096) * 4096, 0, 1, false);
            return;
          }
          let d = 63;
          while (d > 0 && Math.floor(address / 2 ** d) === Math.floor(end / 2 ** d)) d--;
          if (d > 51) {
            hw.amdInvalidatePages(domid, 0, 1, 1, true);
            return;
          }
          if (d > 12) d--; // THE FAULT: msb_diff one too small
          const blk = 2 ** (d + 1);
          const base = Math.floor(address / blk) * blk;
          hw.amdInvalidatePages(domid, base + (2 ** d - 4096), 1, 1, false);
        });
      }),
  });
}
