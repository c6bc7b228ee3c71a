/**
 * disable-large-pages-empty-skips-recalc (drivers/iommu/iommufd/io_pagetable.c
 * iopt_disable_large_pages, reached by IOMMU_OPTION IOMMU_OPTION_HUGE_PAGES
 * SET 0 through ioas.c iommufd_ioas_option_huge_pages; 6.12 and 7.3).
 *
 * Disabling large pages makes the IOAS map domains one PAGE_SIZE at a time
 * (batch_iommu_map_small), which needs every area PAGE_SIZE aligned; so the
 * option raises the IOAS's IOVA alignment through
 * iopt_calculate_iova_alignment (`if (iopt->disable_large_pages)
 * new_iova_alignment = PAGE_SIZE;`), which also stores the result in
 * iopt->iova_alignment:
 *
 *     if (iopt->disable_large_pages)
 *             goto out_unlock;
 *
 *     /* Won't do it if domains already have pages mapped in them *\/
 *     if (!xa_empty(&iopt->domains) &&
 *         !RB_EMPTY_ROOT(&iopt->area_itree.rb_root)) {
 *             rc = -EINVAL;
 *             goto out_unlock;
 *     }
 *
 *     WRITE_ONCE(iopt->disable_large_pages, true);
 *     rc = iopt_calculate_iova_alignment(iopt);
 *     if (rc)
 *             WRITE_ONCE(iopt->disable_large_pages, false);
 *
 * The fault adds a shortcut for an IOAS with nothing mapped, reasoning that
 * the recalculation only exists to check existing areas against the new
 * alignment (iopt_check_iova_alignment) and cannot fail without areas:
 *
 *     if (RB_EMPTY_ROOT(&iopt->area_itree.rb_root)) {
 *             WRITE_ONCE(iopt->disable_large_pages, true);
 *             goto out_unlock;
 *     }
 *
 * The option answers 0 and GET reports it off, but iopt->iova_alignment keeps
 * its stale value (1 with no domain or access, the domain's smallest page,
 * e.g. the 6.12 mock's 2 KiB, with one) until something else recalculates it
 * (a domain or access leaving or joining). Meanwhile IOMMU_IOAS_IOVA_RANGES
 * reports the stale out_iova_alignment, and IOMMU_IOAS_MAP / _COPY /
 * VFIO_IOMMU_MAP_DMA accept sub-PAGE_SIZE IOVAs and lengths that the kernel
 * refuses with EINVAL for an IOAS whose large pages are disabled; such areas
 * later make a pinning access's attach or a domain's attach fail
 * (EADDRINUSE) where the kernel had refused the map instead.
 *
 * Applied as: IOMMU_OPTION HUGE_PAGES SET 0 on an IOAS with no area and large
 * pages still enabled only sets the flag (after iommufd_ioas_option's IOAS
 * lookup, and the val64 copy-back of iommufd_option); everything else is the
 * reference's.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { EFAULT } from '../../../impl/lib/errno.ts';
import { IOMMU_OPTION_HUGE_PAGES, IOMMU_OPTION_OP_SET } from '../../../spec/uapi/constants.ts';
import { iommufdGetIoas, type IommufdIoas } from '../../../impl/iommufd/iommufd_private.ts';
import { mutantImplementation } from '../harness.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('disable-large-pages-empty-skips-recalc', profile, {
    handlers: {
      IOMMU_OPTION: (ucmd, original) => {
        const { cmd, ctx } = ucmd;
        if (cmd.num('__reserved') || cmd.num('option_id') !== IOMMU_OPTION_HUGE_PAGES || cmd.num('op') !== IOMMU_OPTION_OP_SET || cmd.big('val64') !== 0n) return original(ucmd);
        const obj = ctx.objects.load(cmd.num('object_id'));
        if (!obj || obj.type !== 'IOAS') return original(ucmd);
        const iopt = (obj as IommufdIoas).iopt;
        if (iopt.disableLargePages || iopt.areas.length) return original(ucmd);
        // iommufd_ioas_option: iommufd_get_ioas (its fail-nth site), then iopt_disable_large_pages.
        const r = iommufdGetIoas(ctx, cmd.num('object_id'));
        if (r.errno) return r.errno;
        // THE FAULT: nothing mapped → only the flag; iopt_calculate_iova_alignment skipped.
        iopt.disableLargePages = true;
        // iommufd_option: val64 alone is copied back.
        return ctx.proc.copyToUser(ucmd.ubuffer + BigInt(cmd.offsetOf('val64')), cmd.fieldBytes('val64')) ? 0 : -EFAULT;
      },
    },
  });
}
