/**
 * enable-large-pages-recalc-before-clear (drivers/iommu/iommufd/io_pagetable.c
 * iopt_enable_large_pages, reached from IOMMU_OPTION(IOMMU_OPTION_HUGE_PAGES,
 * SET, 1) through ioas.c iommufd_ioas_option_huge_pages).
 *
 * Disabling large pages raises the IOAS's IOVA alignment to PAGE_SIZE (see
 * batch_iommu_map_small(): every map is then done page by page);
 * re-enabling them clears the flag first and then recomputes the alignment
 * from what is left (the domains' smallest IO page, the accesses'
 * alignment), so it can come down again:
 *
 *     void iopt_enable_large_pages(struct io_pagetable *iopt)
 *     {
 *             int rc;
 *
 *             down_write(&iopt->domains_rwsem);
 *             down_write(&iopt->iova_rwsem);
 *             WRITE_ONCE(iopt->disable_large_pages, false);
 *             rc = iopt_calculate_iova_alignment(iopt);
 *             WARN_ON(rc);
 *             ...
 *
 * and iopt_calculate_iova_alignment() starts from the flag:
 *
 *     if (iopt->disable_large_pages)
 *             new_iova_alignment = PAGE_SIZE;
 *     else
 *             new_iova_alignment = 1;
 *
 * The fault: the two statements are swapped (the recalculation is done "while
 * the state is still consistent", the flag flipped last, as
 * iopt_disable_large_pages() restores it last on its error path). The
 * recalculation still sees disable_large_pages set, so the alignment stays at
 * PAGE_SIZE; the flag is cleared after it. Nothing recomputes it until some
 * other event does (a domain or an access added or removed, or large pages
 * disabled again).
 *
 * Observable over several commands on one IOAS: after OPTION HUGE_PAGES 0
 * then 1, IOMMU_OPTION GET reports large pages on, yet IOAS_IOVA_RANGES
 * still reports out_iova_alignment 4096 where the kernel reports 1 (no
 * domain) or 2048 (a mock domain's 2K IO page), and IOAS_MAP / IOAS_COPY of a
 * range the kernel accepts (a sub-page length or IOVA, a 2K-aligned one
 * behind a mock domain, an automatic IOVA for a user address aligned below
 * 4K) fail with EINVAL.
 *
 * Applied on IOMMU_OPTION: HUGE_PAGES SET 1 runs the faulty iopt_enable_large_pages
 * (everything else is the reference's handler).
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation } from '../harness.ts';
import { EADDRINUSE, EFAULT } from '../../../impl/lib/errno.ts';
import { IOMMU_OPTION_HUGE_PAGES, IOMMU_OPTION_OP_SET } from '../../../spec/uapi/constants.ts';
import { iommufdGetIoas, PAGE_SIZE, type IoPagetable } from '../../../impl/iommufd/iommufd_private.ts';

/** 1UL << __ffs(pgsize_bitmap) */
function minPgsize(bitmap: bigint): number {
  return Number(bitmap & -bitmap);
}

/** iopt_check_iova_alignment: every area must conform to the new alignment. */
function checkIovaAlignment(iopt: IoPagetable, newAlignment: number): number {
  const mask = BigInt(newAlignment - 1);
  for (const a of iopt.areas) if (a.start & mask || a.length & mask || BigInt(a.pageOffset) & mask) return -EADDRINUSE;
  return 0;
}

/** iopt_calculate_iova_alignment, as the kernel has it. */
function calculateIovaAlignment(iopt: IoPagetable): number {
  let align = iopt.disableLargePages ? PAGE_SIZE : 1;
  for (const d of iopt.domains) align = Math.max(align, minPgsize(d.pgsizeBitmap));
  for (const a of iopt.accessList.values()) align = Math.max(align, a.iovaAlignment);
  if (align > iopt.iovaAlignment) {
    const rc = checkIovaAlignment(iopt, align);
    if (rc) return rc;
  }
  iopt.iovaAlignment = align;
  return 0;
}

/** iopt_enable_large_pages with THE FAULT: recalculate, then clear the flag. */
function enableLargePages(iopt: IoPagetable): void {
  calculateIovaAlignment(iopt); // WARN_ON(rc)
  iopt.disableLargePages = false;
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('enable-large-pages-recalc-before-clear', profile, {
    handlers: {
      IOMMU_OPTION: (ucmd, original) => {
        const { cmd, ctx } = ucmd;
        if (cmd.num('__reserved') || cmd.num('option_id') !== IOMMU_OPTION_HUGE_PAGES) return original(ucmd);
        if (cmd.num('op') !== IOMMU_OPTION_OP_SET || cmd.big('val64') !== 1n) return original(ucmd);
        // iommufd_option -> iommufd_ioas_option -> iommufd_ioas_option_huge_pages(SET, 1)
        const r = iommufdGetIoas(ctx, cmd.num('object_id'));
        if (r.errno) return r.errno;
        enableLargePages(r.value!.iopt);
        // iommufd_option: on success val64 alone is copied back.
        return ctx.proc.copyToUser(ucmd.ubuffer + BigInt(cmd.offsetOf('val64')), cmd.fieldBytes('val64')) ? 0 : -EFAULT;
      },
    },
  });
}
