/**
 * Fault J4 — access-pin-enoent-no-unwind.
 *
 * iommufd_access_pin_pages (device.c) adds an access to each contiguous area
 * under [iova, iova + length - 1] (iopt_area_add_access: pins the pages and
 * raises area->num_accesses), then, when the areas do not cover the whole
 * range (!iopt_area_contig_done), fails with ENOENT through err_remove, which
 * removes the accesses added so far. The fault returns ENOENT straight away
 * on that path (`return -ENOENT` / a goto to the unlock label instead of
 * err_remove): a pin request that runs past the end of the mapping fails,
 * but the pages of the areas it did cover stay pinned and the areas keep a
 * num_accesses the driver never learned of. The driver recorded no item, so
 * a later unmap of such an area notifies an access that has nothing to unpin
 * and spins to EDEADLOCK; the pins never go away (wrong error unwind leaving
 * half-applied state).
 *
 * Emulated exactly on top of the reference: when IOMMU_TEST_OP_ACCESS_PAGES
 * fails with ENOENT because the range is not fully covered, the accesses the
 * faulty loop would have left behind (every piece it got through before
 * noticing) are added again with iopt_area_add_access.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation } from '../harness.ts';
import { ENOENT } from '../../../impl/lib/errno.ts';
import { IOMMU_TEST_OP_ACCESS_PAGES, MOCK_FLAGS_ACCESS_SYZ, MOCK_FLAGS_ACCESS_WRITE } from '../../../spec/uapi/constants.ts';
import { IOMMU_READ, IOMMU_WRITE, ioptAreaContig, ioptAreaIovaToIndex, ioptAreaStartByte } from '../../../impl/iommufd/io_pagetable.ts';
import { ioptAreaAddAccess } from '../../../impl/iommufd/pages.ts';
import { PAGE_SIZE, ULONG_MAX } from '../../../impl/iommufd/iommufd_private.ts';
import { SelftestAccess } from '../../../impl/iommufd/selftest.ts';

const P = BigInt(PAGE_SIZE);

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('access-pin-enoent-no-unwind', profile, {
    handlers: {
      IOMMU_TEST_CMD: (ucmd, original) => {
        const { cmd, ctx } = ucmd;
        const rc = original(ucmd);
        if (rc !== -ENOENT || cmd.num('op') !== IOMMU_TEST_OP_ACCESS_PAGES) return rc;
        const flags = cmd.num('access_pages.flags');
        if (flags & MOCK_FLAGS_ACCESS_SYZ) return rc;
        const staccess = ctx.proc.fds.lookup(cmd.num('id'))?.private_data;
        if (!(staccess instanceof SelftestAccess) || !staccess.needsPin || !staccess.access?.ioas) return rc;
        const iova = cmd.big('access_pages.iova');
        const length = cmd.big('access_pages.length');
        if (!length) return rc;
        const last = iova + length - 1n;
        if (last > ULONG_MAX) return rc;
        const write = (flags & MOCK_FLAGS_ACCESS_WRITE) !== 0;
        const { pieces, done } = ioptAreaContig(staccess.access.ioas.iopt, iova, last);
        if (done) return rc; // ENOENT from elsewhere: the reference's unwind is the right one
        // The faulty loop: every piece is pinned (it would have stopped with its own errno on a bad one) ...
        for (const { area, cur } of pieces) {
          const pieceLast = last < area.last ? last : area.last;
          if (area.preventAccess) return rc;
          if (ioptAreaStartByte(area, cur) % P) return rc;
          if (pieceLast !== last && ioptAreaStartByte(area, area.last) % P !== P - 1n) return rc;
          if (!(area.iommuProt & (write ? IOMMU_WRITE : IOMMU_READ))) return rc;
        }
        for (const { area, cur } of pieces) {
          const pieceLast = last < area.last ? last : area.last;
          const r = ioptAreaAddAccess(area, ioptAreaIovaToIndex(area, cur), ioptAreaIovaToIndex(area, pieceLast), write);
          if (r.errno) break;
        }
        // ... and then `if (!iopt_area_contig_done(&iter)) return -ENOENT;` without err_remove.
        return rc;
      },
    },
  });
}
