/**
 * Round 6b fault (drivers/iommu/iommufd/io_pagetable.c iopt_area_split).
 *
 * A VFIO type1 v1 unmap that cuts an area splits it at new_start = iova + 1
 * into lhs [start, iova] and rhs [new_start, last]; the rhs must be inserted
 * at the byte of the pages new_start maps:
 *     rc = iopt_insert_area(iopt, rhs, area->pages, new_start,
 *                           iopt_area_start_byte(area, new_start), ...
 * The fault passes iopt_area_start_byte(area, iopt_area_iova(area)) (the
 * lhs's start byte) for the rhs too, so the rhs's pages_node covers the
 * first pages of the old area instead of its own. The domains are untouched
 * by the split (still map the right frames), but every later use of the rhs
 * goes through the wrong index range: its unmap releases the lhs's pins
 * (unpinning frames the lhs still maps in the IOMMU) and leaves its own pages
 * pinned for ever, and a domain attached later maps the lhs's frames at the
 * rhs's IOVAs.
 *
 * Applied as: when the IOAS's area list replaces one area by two (the split),
 * the second gets the first's startByte.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import type { IommufdIoas, IoptArea } from '../../../impl/iommufd/iommufd_private.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('split-rhs-start-byte', profile, {
    object: (obj) => {
      if (obj?.type !== 'IOAS') return;
      const iopt = (obj as IommufdIoas).iopt;
      patchOwn(iopt.areas, 'splice', (splice) => (start: number, deleteCount?: number, ...items: IoptArea[]) => {
        if (deleteCount === 1 && items.length === 2) {
          const [lhs, rhs] = items as [IoptArea, IoptArea];
          const old = iopt.areas[start];
          if (old && lhs.start === old.start && rhs.last === old.last && rhs.start === lhs.last + 1n) {
            // THE FAULT: iopt_area_start_byte(area, iopt_area_iova(area)) for the rhs.
            rhs.startByte = lhs.startByte;
          }
        }
        return splice(start, deleteCount as number, ...items);
      });
    },
  });
}
