/**
 * iova-alignment-never-lowered (drivers/iommu/iommufd/io_pagetable.c
 * iopt_calculate_iova_alignment, reached from iopt_table_remove_domain,
 * iopt_add_access / iopt_remove_access and iopt_enable/disable_large_pages).
 *
 * An IOAS demands of every new mapping the largest alignment any of its
 * users needs: the smallest IO page of each attached domain (4 KiB for
 * VT-d / AMD / SMMUv3, 2 KiB for the selftest mock), PAGE_SIZE for an
 * access that pins pages or while large pages are disabled, and nothing
 * (byte granularity) otherwise. It is recomputed whenever one of those users
 * comes or goes; only a larger value has to be checked against the existing
 * areas:
 *
 *     if (new_iova_alignment > iopt->iova_alignment) {
 *             int rc;
 *
 *             rc = iopt_check_iova_alignment(iopt, new_iova_alignment);
 *             if (rc)
 *                     return rc;
 *     }
 *     iopt->iova_alignment = new_iova_alignment;
 *     return 0;
 *
 * The fault moves the assignment into the branch ("only a larger alignment
 * needs work"):
 *
 *     if (new_iova_alignment > iopt->iova_alignment) {
 *             ...
 *             iopt->iova_alignment = new_iova_alignment;
 *     }
 *     return 0;
 *
 * so the alignment of an IOAS only ever grows. (iopt_table_add_domain
 * raises it on its own, as before.)
 *
 * What it breaks shows only after the user that raised the alignment is gone:
 * a device is detached and its automatic HWPT destroyed, a HWPT is destroyed,
 * a pinning access (an mdev-style in-kernel user) is destroyed or moved to
 * another IOAS, IOMMU_OPTION(HUGE_PAGES) turns large pages back on, or a
 * 4 KiB domain leaves an IOAS that keeps the mock's 2 KiB one. The IOAS keeps
 * the dead user's alignment: IOMMU_IOAS_IOVA_RANGES reports it as
 * out_iova_alignment, IOMMU_IOAS_MAP / IOMMU_IOAS_COPY / VFIO_IOMMU_MAP_DMA
 * of a range the remaining users accept (a sub-page IOVA or length, a user
 * address at a sub-page offset) fail with EINVAL, automatic IOVA allocation
 * refuses lengths below it, and VFIO_IOMMU_GET_INFO reports iova_pgsizes no
 * smaller than it — for the rest of the IOAS's life.
 *
 * Applied as: every IOAS's io_pagetable (its iova_alignment member) keeps the
 * larger of its current and any newly assigned alignment, which is what the
 * faulty iopt_calculate_iova_alignment does at each of its callers; raising
 * it (and the area check that goes with raising) is the reference's.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import type { IommufdIoas } from '../../../impl/iommufd/iommufd_private.ts';
import { mutantImplementation } from '../harness.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('iova-alignment-never-lowered', profile, {
    object: (obj) => {
      if (obj.type !== 'IOAS') return;
      const iopt = (obj as IommufdIoas).iopt;
      let alignment = iopt.iovaAlignment;
      Object.defineProperty(iopt, 'iovaAlignment', {
        get: () => alignment,
        // THE FAULT: `iopt->iova_alignment = new_iova_alignment;` only inside `if (new > cur)`.
        set: (v: number) => {
          if (v > alignment) alignment = v;
        },
        configurable: true,
        enumerable: true,
      });
    },
  });
}
