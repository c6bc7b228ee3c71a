/**
 * Fault J1 — copy-src-offset-dropped.
 *
 * iopt_get_pages (io_pagetable.c), used by IOMMU_IOAS_COPY, builds one
 * iopt_pages_list element per source area. The element's start_byte must be
 * iopt_area_start_byte(area, iter.cur_iova): where the copied range begins
 * inside that area. The fault takes iopt_area_start_byte(area,
 * iopt_area_iova(area)) instead — the area's own start — so a COPY whose
 * src_iova lies inside an area (not at its first byte) maps the destination
 * onto the area's first pages instead of the pages under src_iova. The
 * length is right, so nothing fails: the new area silently aliases other
 * user pages (the class of wrong iova->index arithmetic at area boundaries).
 *
 * Only the COPY handler is replaced: a copy of iommufd_ioas_copy calling a
 * copy of iopt_get_pages with the one changed line.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation } from '../harness.ts';
import { copyHandler, getPagesWith } from './_copy.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('copy-src-offset-dropped', profile, {
    // THE FAULT: elm->start_byte = iopt_area_start_byte(area, iopt_area_iova(area)), not (area, iter.cur_iova).
    handlers: { IOMMU_IOAS_COPY: copyHandler({ getPages: getPagesWith({ startByte: (area) => area.startByte }) }) },
  });
}
