/**
 * iommu-pgsize-addr-merge-iova-only — drivers/iommu/iommu.c iommu_pgsize()
 * (the iommu core's page-size choice for drivers with map_pages: io-pgtable-arm
 * under both profiles (smmu0), and in 6.12 the intel and AMD v1 drivers too;
 * 7.3's generic_pt domains call map_range directly and are not affected).
 *
 * The kernel:
 *
 *     static size_t iommu_pgsize(struct iommu_domain *domain, unsigned long iova,
 *                                phys_addr_t paddr, size_t size, size_t *count)
 *     {
 *             unsigned int pgsize_idx, pgsize_idx_next;
 *             unsigned long pgsizes;
 *             size_t offset, pgsize, pgsize_next;
 *             unsigned long addr_merge = paddr | iova;
 *
 *             /* Page sizes supported by the hardware and small enough for @size *\/
 *             pgsizes = domain->pgsize_bitmap & GENMASK(__fls(size), 0);
 *
 *             /* Constrain the page sizes further based on the maximum alignment *\/
 *             if (likely(addr_merge))
 *                     pgsizes &= GENMASK(__ffs(addr_merge), 0);
 *             ...
 *
 * THE FAULT: the alignment constraint is taken from the IOVA alone
 * (`unsigned long addr_merge = iova;`), as if the caller always passed
 * IOVA and PA with the same offset: a block is chosen whenever the IOVA is
 * block aligned, whatever the physical address.
 *
 * Observable: IOMMU_IOAS_MAP of a physically contiguous user range whose PA
 * is not 2 MiB aligned (user_va one page into a huge-aligned buffer) at a
 * 2 MiB aligned IOVA, length >= 2 MiB, with a device behind smmu0 attached.
 * The kernel maps 4 KiB pages; the faulty core hands io-pgtable-arm 2 MiB
 * blocks at the unaligned PA (paddr_to_iopte keeps PA bits 20:12, RES0 in a
 * level-2 block descriptor: CONSTRAINED UNPREDICTABLE on real hardware). The
 * simulated walker, as the hardware, takes the block's OA from its bits at
 * and above 2 MiB, so the device's DMA lands a page below the user's memory;
 * the IOTLB shows a 2 MiB translation (`iotlb` size 2097152) where the kernel
 * caches 4 KiB ones. (As written, the walker added the low bits and DMA
 * landed right; the walker was fixed after this round.)
 * Applied as: each io-pgtable / 6.12 driver table's map loop (iommu_map ->
 * __iommu_map) with the faulty page-size choice; the rest is the reference's.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { EINVAL } from '../../../impl/lib/errno.ts';
import type { PagesDriver } from '../../../impl/pagetable/iommu_core.ts';
import { ctz, flsLg2, modPow2, POW2 } from '../../../impl/pagetable/pgsize.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';

/** iommu_pgsize with addr_merge = iova: [lg2, count]. */
function faultyPgsize(sizes: readonly number[], iova: number, paddr: number, size: number): [number, number] {
  const maxLg2 = flsLg2(size);
  const alignLg2 = ctz(iova); // THE FAULT: paddr's alignment is not merged in
  let pg = -1;
  let next = -1;
  for (let i = 0; i < sizes.length; i++) {
    const s = sizes[i] as number;
    if (s <= maxLg2 && s <= alignLg2) pg = s;
    else if (pg >= 0 && s > pg) {
      next = s;
      break;
    }
  }
  if (pg < 0) return [0, 0];
  let sz = size;
  if (next >= 0) {
    const P = POW2[next] as number;
    const io = modPow2(iova, P);
    if (io === modPow2(paddr, P)) {
      const offset = P - io;
      if (offset + P <= size) sz = offset;
    }
  }
  return [pg, Math.floor(sz / (POW2[pg] as number))];
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('iommu-pgsize-addr-merge-iova-only', profile, {
    domain(d) {
      const pt = d.hw?.pt as unknown as (PagesDriver & { map(iova: number, pa: number, len: number, prot: number): number }) | undefined;
      if (!pt || typeof (pt as Partial<PagesDriver>).mapPages !== 'function') return;
      // __iommu_map's loop (iommuMapLoop) over the faulty iommu_pgsize.
      patchOwn(pt, 'map', (orig) => (iova: number, paddr: number, size: number, prot: number): number => {
        if (iova + size > 2 ** 53) return orig(iova, paddr, size, prot);
        pt.mapped = 0;
        const sizes = pt.pgsizeList;
        const min = POW2[sizes[0] as number] as number;
        if (modPow2(iova, min) !== 0 || modPow2(paddr, min) !== 0 || modPow2(size, min) !== 0) return -EINVAL;
        while (size > 0) {
          const [pg, count] = faultyPgsize(sizes, iova, paddr, size);
          pt.pagesMapped = 0;
          const rc = pt.mapPages(iova, paddr, pg, count, prot);
          const done = pt.pagesMapped;
          pt.mapped += done;
          if (rc !== 0) return rc;
          if (done === 0) return -EINVAL;
          size -= done;
          iova += done;
          paddr += done;
        }
        return 0;
      });
    },
  });
}
