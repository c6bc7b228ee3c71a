/**
 * copy-check-iova-first-piece (drivers/iommu/iommufd/io_pagetable.c
 * iopt_alloc_area_pages, fixed-IOVA branch, reached by IOMMU_IOAS_COPY with
 * IOMMU_IOAS_MAP_FIXED_IOVA).
 *
 * iopt_alloc_area_pages places the areas of a pages list (one element per
 * source area a COPY crosses) back to back from *dst_iova. With a fixed IOVA
 * the whole destination range must be checked first:
 *
 *     } else {
 *             rc = iopt_check_iova(iopt, *dst_iova, length);
 *             if (rc)
 *                     goto out_unlock;
 *     }
 *
 * (aligned, no wrap, no reserved range, no existing area in
 * [*dst_iova, *dst_iova + length - 1]). The fault checks the span of the
 * first element only — the same list_first_entry() the IOPT_ALLOC_IOVA
 * branch just above uses to guess the alignment, with its elm->length
 * instead of the total `length`:
 *
 *             elm = list_first_entry(pages_list, struct iopt_pages_list, next);
 *             rc = iopt_check_iova(iopt, *dst_iova, elm->length);
 *
 * For a MAP (one element) and a COPY of a single source area nothing
 * changes. A COPY whose source range spans several areas is checked only
 * for its first piece: the following pieces are inserted over reserved IOVA
 * (a device's MSI window or other reserved region, a domain's space outside
 * its aperture, IOMMU_TEST_OP_ADD_RESERVED ranges) and over existing areas
 * of the destination, which iopt_insert_area does not check again.
 *
 * Consequence: a user makes the destination IOAS map its memory at IOVAs the
 * kernel promised to keep unmapped (the IOAS_IOVA_RANGES holes no longer
 * describe what is mapped); with no domain attached the overlapping areas
 * corrupt the area tree (two areas claim one IOVA), and a domain attached
 * later maps whichever it fills first or fails to attach. With a domain whose
 * page table reaches past the aperture the second piece is really mapped
 * there, where the device's DMA must never be translated.
 *
 * Applied to IOMMU_IOAS_COPY through a copy of iommufd_ioas_copy (_copy.ts)
 * and of iopt_map_pages / iopt_alloc_area_pages as the reference has them.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation } from '../harness.ts';
import { copyHandler } from './_copy.ts';
import { IOPT_ALLOC_IOVA, ioptAllocIova, ioptAutoIovaAllowed, ioptCheckIova } from '../../../impl/iommufd/io_pagetable.ts';
import { ioptAreaFillDomains, ioptAreaUnfillDomains } from '../../../impl/iommufd/pages.ts';
import { IoptArea, PAGE_SIZE, ULONG_MAX, type IoPagetable, type PagesListElm } from '../../../impl/iommufd/iommufd_private.ts';
import { IOMMU_WRITE } from '../../../impl/pagetable/format.ts';
import { EINVAL, ENOMEM, EOVERFLOW, EPERM } from '../../../impl/lib/errno.ts';
import { Unwind } from '../../../impl/lib/unwind.ts';

const P = BigInt(PAGE_SIZE);

/** iopt_insert_area, as the reference has it. */
function insertArea(iopt: IoPagetable, elm: PagesListElm, iova: bigint, prot: number): number {
  const pages = elm.pages!;
  if (prot & IOMMU_WRITE && !pages.writable) return -EPERM;
  if (Number(elm.startByte % P) & (iopt.iovaAlignment - 1)) return -EINVAL;
  const area = new IoptArea(iopt, iova, iova + elm.length - 1n, elm.startByte, prot);
  if (area.last > ULONG_MAX) return -EOVERFLOW;
  let i = 0;
  while (i < iopt.areas.length && iopt.areas[i]!.start < area.start) i++;
  iopt.areas.splice(i, 0, area);
  elm.area = area;
  return 0;
}

/** iopt_alloc_area_pages with the fixed-IOVA check over the first element's length. */
function allocAreaPages(iopt: IoPagetable, list: PagesListElm[], length: bigint, dstIova: { iova: bigint }, prot: number, flags: number): number {
  for (const _elm of list) if (iopt.faults.shouldFail()) return -ENOMEM; // iopt_area_alloc
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
    // THE FAULT: elm = list_first_entry(pages_list); iopt_check_iova(iopt, *dst_iova, elm->length)
    const rc = ioptCheckIova(iopt, dstIova.iova, list[0]!.length);
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

/** iopt_map_pages (with iopt_fill_domains_pages), as the reference has it. */
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
  return mutantImplementation('copy-check-iova-first-piece', profile, {
    handlers: { IOMMU_IOAS_COPY: copyHandler({ mapPages }) },
  });
}
