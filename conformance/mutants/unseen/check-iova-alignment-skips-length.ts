/**
 * check-iova-alignment-skips-length (drivers/iommu/iommufd/io_pagetable.c
 * iopt_check_iova_alignment, reached here through IOMMU_OPTION
 * HUGE_PAGES = 0: iommufd_ioas_option_huge_pages → iopt_disable_large_pages
 * → iopt_calculate_iova_alignment).
 *
 * Before raising the IOAS's IOVA alignment the kernel (6.12 and 7.3 alike)
 * makes sure every existing area already satisfies it, in IOVA, length and
 * page offset:
 *
 *     for (area = iopt_area_iter_first(iopt, 0, ULONG_MAX); area;
 *          area = iopt_area_iter_next(area, 0, ULONG_MAX))
 *             if ((iopt_area_iova(area) & align_mask) ||
 *                 (iopt_area_length(area) & align_mask) ||
 *                 (area->page_offset & align_mask))
 *                     return -EADDRINUSE;
 *
 * THE FAULT: the length term is lost (only the two "start" terms are kept:
 * the author checks where an area begins, in IOVA and in the pages, and
 * forgets that its end must be aligned too). An IOAS that (with alignment 1:
 * no domain, no access) holds an area of a page-aligned start but a length
 * that is not a page multiple (e.g. 0x1800 bytes) can now disable huge
 * pages: the SET succeeds where the kernel answers -EADDRINUSE and leaves
 * huge pages on (a GET then reads 0 instead of 1), and iova_alignment
 * becomes PAGE_SIZE with a sub-page-tailed area in the IOAS. A domain
 * attached afterwards is no longer checked against it (the alignment does
 * not change), so the area's partial last page reaches the domain's fill:
 * the attach answers what the page-table map of a partial page answers
 * (or maps a whole page where the area holds half of one) instead of the
 * kernel's -EADDRINUSE at the domain add.
 *
 * Applied as: IOMMU_OPTION with option HUGE_PAGES, op SET, val64 0 runs a
 * copy of iommufd_ioas_option_huge_pages → iopt_disable_large_pages →
 * iopt_calculate_iova_alignment → iopt_check_iova_alignment with the one
 * term lost; the domain-add and access-add callers keep the reference's
 * check, and every other option is the reference's.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation } from '../harness.ts';
import { EADDRINUSE, EFAULT, EINVAL, EOPNOTSUPP } from '../../../impl/lib/errno.ts';
import { IOMMU_OPTION_HUGE_PAGES, IOMMU_OPTION_OP_SET } from '../../../spec/uapi/constants.ts';
import { iommufdGetIoas, PAGE_SIZE, type IoPagetable, type IoctlExecute, type Ucmd } from '../../../impl/iommufd/iommufd_private.ts';

/** iopt_check_iova_alignment with the fault. */
function checkIovaAlignment(iopt: IoPagetable, newAlignment: number): number {
  const mask = BigInt(newAlignment - 1);
  // THE FAULT: `(iopt_area_length(area) & align_mask) ||` is gone.
  for (const a of iopt.areas) if (a.start & mask || BigInt(a.pageOffset) & mask) return -EADDRINUSE;
  return 0;
}

/** iopt_calculate_iova_alignment over the faulty check. */
function calculateIovaAlignment(iopt: IoPagetable): number {
  let align = iopt.disableLargePages ? PAGE_SIZE : 1;
  for (const d of iopt.domains) align = Math.max(align, Number(d.pgsizeBitmap & -d.pgsizeBitmap));
  for (const a of iopt.accessList.values()) align = Math.max(align, a.iovaAlignment);
  if (align > iopt.iovaAlignment) {
    const rc = checkIovaAlignment(iopt, align);
    if (rc) return rc;
  }
  iopt.iovaAlignment = align;
  return 0;
}

/** iopt_disable_large_pages over the faulty calculation. */
function disableLargePages(iopt: IoPagetable): number {
  if (iopt.disableLargePages) return 0;
  if (iopt.domains.length && iopt.areas.length) return -EINVAL;
  iopt.disableLargePages = true;
  const rc = calculateIovaAlignment(iopt);
  if (rc) iopt.disableLargePages = false;
  return rc;
}

/** iommufd_option, with HUGE_PAGES SET 0 through the faulty disable. */
function option(ucmd: Ucmd, original: IoctlExecute): number {
  const { cmd, ctx } = ucmd;
  if (cmd.num('option_id') !== IOMMU_OPTION_HUGE_PAGES || cmd.num('op') !== IOMMU_OPTION_OP_SET || cmd.big('val64') !== 0n) return original(ucmd);
  if (cmd.num('__reserved')) return -EOPNOTSUPP;
  const r = iommufdGetIoas(ctx, cmd.num('object_id'));
  if (r.errno) return r.errno;
  const rc = disableLargePages(r.value!.iopt);
  if (rc) return rc;
  // iommufd_option: val64 alone is copied back.
  return ctx.proc.copyToUser(ucmd.ubuffer + BigInt(cmd.offsetOf('val64')), cmd.fieldBytes('val64')) ? 0 : -EFAULT;
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('check-iova-alignment-skips-length', profile, { handlers: { IOMMU_OPTION: option } });
}
