/**
 * Round 6b fault (drivers/iommu/iommufd/pages.c iopt_area_fill_domains, its
 * out_unmap path).
 *
 * A new area (IOMMU_IOAS_MAP, IOAS_COPY, VFIO_IOMMU_MAP_DMA) is pinned batch
 * by batch and each batch mapped into every domain of the IOAS; only then is
 * the pin charged (pfn_reader_update_pinned), which fails -ENOMEM over
 * RLIMIT_MEMLOCK. The unwind unmaps from each domain what was mapped in it:
 *     if (unmap_index < index)
 *             end_index = done_all_end_index;
 *     else
 *             end_index = done_end_index;
 * The fault swaps the two (end_index = done_end_index for the domains the
 * loop finished): after the loop, done_end_index is the first index of the
 * last batch, so the last batch of the area (for an area of one batch, the
 * whole area) is never unmapped. The ioctl fails with ENOMEM and the pages
 * are unpinned and uncharged, but every domain of the IOAS still maps them:
 * the device keeps DMA access to memory the process may free, and a later
 * map of the same IOVA fails -EADDRINUSE in the domain.
 *
 * Applied as: a domain unmap inside IOMMU_IOAS_MAP / IOMMU_IOAS_COPY /
 * VFIO_IOMMU_MAP_DMA (in those only the fill's unwind unmaps) removes only
 * the batches before the last one (batches of 512 pages, as the pin runs).
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';

const BATCH_BYTES = 512 * 4096;

export function createAdapter(profile: Profile): Implementation {
  let inCompatMap = 0;
  return mutantImplementation('fill-domains-unwind-last-batch', profile, {
    // The dispatch records the ioctl name only for commands with a handler here: pass through.
    handlers: {
      IOMMU_IOAS_MAP: (ucmd, original) => original(ucmd),
      IOMMU_IOAS_COPY: (ucmd, original) => original(ucmd),
    },
    compat: {
      VFIO_IOMMU_MAP_DMA: (_ctx, _d, _arg, original) => {
        inCompatMap++;
        try {
          return original();
        } finally {
          inCompatMap--;
        }
      },
    },
    domain: (dom, env) => {
      patchOwn(dom, 'unmap', (unmap) => (iova: bigint, size: number) => {
        const ioctl = env.inIoctl;
        if (inCompatMap > 0 || ioctl === 'IOMMU_IOAS_MAP' || ioctl === 'IOMMU_IOAS_COPY') {
          // THE FAULT: end_index = done_end_index (the last batch's first index) for every domain.
          const keep = Math.floor((size - 1) / BATCH_BYTES) * BATCH_BYTES;
          return keep > 0 ? unmap(iova, keep) : 0;
        }
        return unmap(iova, size);
      });
    },
  });
}
