/**
 * Fault J6 — copy-writable-over-readonly-pages.
 *
 * iopt_insert_area (io_pagetable.c) refuses an area whose iommu_prot has
 * IOMMU_WRITE over an iopt_pages that was not pinned writable
 * (`if ((iommu_prot & IOMMU_WRITE) && !pages->writable) return -EPERM;`).
 * IOMMU_IOAS_MAP can never hit it (the pages' writability is derived from the
 * map's own prot); IOMMU_IOAS_COPY can: copying an area that was mapped
 * READABLE only with WRITEABLE must fail EPERM. The fault drops the test: the
 * copy builds a writable area (and writable PTEs in every domain) over pages
 * pinned without FOLL_WRITE, so a device can write into memory the user
 * could only read — a read-only mapping, or a page that was never made
 * private for writing (the missing-permission-check class, COPY path).
 *
 * Only IOMMU_IOAS_COPY is replaced: a copy of iommufd_ioas_copy calling a
 * copy of iopt_map_pages / iopt_alloc_area_pages / iopt_insert_area with the
 * one test removed.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation } from '../harness.ts';
import { mapPagesWith } from './_map.ts';
import { copyHandler } from './_copy.ts';

/** iopt_map_pages whose iopt_insert_area lets a writable area over pages pinned read-only. */
// THE FAULT: `if ((prot & IOMMU_WRITE) && !pages->writable) return -EPERM;` is missing
const mapPages = mapPagesWith({ writeNeedsWritablePages: false });

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('copy-writable-over-readonly-pages', profile, { handlers: { IOMMU_IOAS_COPY: copyHandler({ mapPages }) } });
}
