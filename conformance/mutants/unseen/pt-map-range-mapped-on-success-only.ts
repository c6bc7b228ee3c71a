/**
 * pt-map-range-mapped-on-success-only — drivers/iommu/generic_pt/iommu_pt.h
 * NS(map_range)(), the 7.3 map_range op of every generic_pt domain (VT-d
 * second stage, AMD v1, the AMDv1 selftest mock), called by
 * iommu_map_nosync() for every iommu_map of IOMMU_IOAS_MAP / _COPY,
 * VFIO_IOMMU_MAP_DMA and the fill of a domain joining an IOAS.
 *
 * map_range reports its progress through *mapped even when it fails, so the
 * iommu core can take back what it did:
 *
 *     ret = do_map(&range, common, single_page, &map);
 *     ...
 *     /* Bytes successfully mapped *\/
 *     PT_WARN_ON(!ret && map.oa - paddr != len);
 *     *mapped += map.oa - paddr;
 *     return ret;
 *
 * and iommu_map_nosync():
 *
 *     ret = pt->ops->map_range(pt, iova, paddr, size, prot, gfp, &mapped);
 *     ...
 *     if (ret) {
 *             iommu_unmap(domain, iova, mapped);
 *             return ret;
 *     }
 *
 * THE FAULT: the progress is reported only when the whole range went in —
 * the comment "Bytes successfully mapped" read as "bytes of a successful
 * map":
 *
 *     if (!ret)
 *             *mapped += map.oa - paddr;
 *
 * A map that fails half-way (a table page allocation for the next table of
 * the range fails with -ENOMEM; iommu_alloc_pages is a fail_nth point) then
 * reports 0 bytes, and iommu_map_nosync() undoes nothing: the leaves already
 * written in the earlier tables stay in the domain.
 *
 * Consequence, over several commands: the IOMMU_IOAS_MAP fails with ENOMEM
 * as it should, and iommufd unwinds its side — it unmaps the earlier
 * batches, unpins every page and forgets the area. But the domain still
 * translates the first part of the range to those unpinned pages: a device
 * attached to the IOAS reads and writes memory the process no longer has
 * pinned (freed and reused by anything later), at IOVAs the IOAS says are
 * free. A later IOMMU_IOAS_MAP of the same IOVAs (the IOAS accepts it) is
 * refused by the table with EADDRINUSE, and an IOAS_UNMAP of a neighbour
 * does not clear the leftovers either, until the domain is freed.
 *
 * Applied as (7.3 generic_pt tables only; 6.12's drivers and io-pgtable-arm
 * go through the iommu core's own map loop): when a generic_pt table's
 * map_range fails after mapping part of the range, iommu_map undoes nothing.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('pt-map-range-mapped-on-success-only', profile, {
    domain: (d) => {
      const hw = d.hw;
      const pt = hw?.pt;
      if (!hw || !pt || pt.g.driver !== 'generic_pt') return;
      // iommu_map_nosync → map_range, with the faulty progress report.
      const mapNosync = (iova: number, pa: number, len: number, prot: number): number => {
        const rc = pt.map(iova, pa, len, prot);
        // THE FAULT: *mapped is only added to on success.
        hw.mapped = rc === 0 ? pt.mapped : 0;
        if (rc !== 0 && hw.mapped > 0) hw.unmap(iova, hw.mapped);
        return rc;
      };
      patchOwn(hw, 'map', () => mapNosync);
    },
  });
}
