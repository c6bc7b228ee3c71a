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
import { copyHandler } from './_copy.ts';
import { EINVAL, ENOMEM, EOVERFLOW } from '../../../impl/lib/errno.ts';
import { IoptArea, PAGE_SIZE, ULONG_MAX, type IoPagetable, type PagesListElm } from '../../../impl/iommufd/iommufd_private.ts';
import { IOPT_ALLOC_IOVA, ioptAllocIova, ioptAutoIovaAllowed, ioptCheckIova } from '../../../impl/iommufd/io_pagetable.ts';
import { ioptAreaFillDomains, ioptAreaUnfillDomains } from '../../../impl/iommufd/pages.ts';
import { Unwind } from '../../../impl/lib/unwind.ts';

const P = BigInt(PAGE_SIZE);

/** iopt_insert_area with the fault. */
function insertArea(iopt: IoPagetable, elm: PagesListElm, iova: bigint, prot: number): number {
  // THE FAULT: `if ((prot & IOMMU_WRITE) && !pages->writable) return -EPERM;` is missing
  if (Number(elm.startByte % P) & (iopt.iovaAlignment - 1)) return -EINVAL;
  const area = new IoptArea(iopt, iova, iova + elm.length - 1n, elm.startByte, prot);
  if (area.last > ULONG_MAX) return -EOVERFLOW;
  let i = 0;
  while (i < iopt.areas.length && iopt.areas[i]!.start < area.start) i++;
  iopt.areas.splice(i, 0, area);
  elm.area = area;
  return 0;
}

/** iopt_alloc_area_pages (unchanged). */
function allocAreaPages(iopt: IoPagetable, list: PagesListElm[], length: bigint, dstIova: { iova: bigint }, prot: number, flags: number): number {
  for (const _elm of list) if (iopt.faults.shouldFail()) return -ENOMEM;
  if (length & BigInt(iopt.iovaAlignment - 1) || !length) return -EINVAL;
  if (flags & IOPT_ALLOC_IOVA) {
    const first = list[0]!;
    const uptr = first.pages!.uptr + first.startByte;
    const r = ioptAllocIova(iopt, uptr, length);
    if (r.errno) return r.errno;
    dstIova.iova = r.value!;
    const steered = iopt.steerAutoIova?.(uptr, length);
    if (steered !== undefined && ioptAutoIovaAllowed(iopt, uptr, length, steered)) dstIova.iova = steered;
  } else {
    const rc = ioptCheckIova(iopt, dstIova.iova, length);
    if (rc) return rc;
  }
  let iova = dstIova.iova;
  for (const elm of list) {
    const rc = insertArea(iopt, elm, iova, prot);
    if (rc) return rc;
    iova += elm.length;
  }
  return 0;
}

/** iopt_map_pages (unchanged). */
function mapPages(iopt: IoPagetable, list: PagesListElm[], length: bigint, dstIova: { iova: bigint }, prot: number, flags: number): number {
  const rc = allocAreaPages(iopt, list, length, dstIova, prot, flags);
  if (rc) return rc;
  const unwind = new Unwind();
  for (const elm of list) {
    const rc = ioptAreaFillDomains(iopt, elm.area!, elm.pages!);
    if (rc) return unwind.exit(rc);
    unwind.onError('out_unfill', () => ioptAreaUnfillDomains(iopt, elm.area!, elm.pages!));
  }
  unwind.exit(0);
  for (const elm of list) {
    elm.area!.pages = elm.pages;
    elm.pages = null;
    elm.area = null;
  }
  return 0;
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('copy-writable-over-readonly-pages', profile, { handlers: { IOMMU_IOAS_COPY: copyHandler({ mapPages }) } });
}
