/**
 * option-enable-large-pages-busy (drivers/iommu/iommufd/io_pagetable.c
 * iopt_enable_large_pages, reached from IOMMU_OPTION
 * IOMMU_OPTION_HUGE_PAGES / IOMMU_OPTION_OP_SET val64 = 1 through
 * iommufd_ioas_option_huge_pages; 6.12 and 7.3).
 *
 * HUGE_PAGES is a per-IOAS switch. Turning large pages off is refused once
 * a domain already holds mappings, because those may use large IOPTEs that
 * a later split (the VFIO type1v1 partial unmap) could not cut:
 *
 *     int iopt_disable_large_pages(struct io_pagetable *iopt)
 *             ...
 *             if (iopt->disable_large_pages)
 *                     goto out_unlock;
 *             // Won't do it if domains already have pages mapped in them
 *             if (!xa_empty(&iopt->domains) &&
 *                 !RB_EMPTY_ROOT(&iopt->area_itree.rb_root)) {
 *                     rc = -EINVAL;
 *                     goto out_unlock;
 *             }
 *
 * Turning them back on has no such hazard (existing small IOPTEs stay
 * valid; only later maps may use large ones), so it always succeeds:
 *
 *     void iopt_enable_large_pages(struct io_pagetable *iopt)
 *     {
 *             ...
 *             WRITE_ONCE(iopt->disable_large_pages, false);
 *             rc = iopt_calculate_iova_alignment(iopt);
 *             WARN_ON(rc);
 *
 * The fault makes enable the mirror image of disable (converted to return
 * an int, as the option handler's `iopt_enable_large_pages(); return 0;`
 * invites), copying the busy test along:
 *
 *     int iopt_enable_large_pages(struct io_pagetable *iopt)
 *             ...
 *             if (!iopt->disable_large_pages)
 *                     goto out_unlock;
 *             // Won't do it if domains already have pages mapped in them
 *             if (!xa_empty(&iopt->domains) &&
 *                 !RB_EMPTY_ROOT(&iopt->area_itree.rb_root)) {
 *                     rc = -EINVAL;
 *                     goto out_unlock;
 *             }
 *             WRITE_ONCE(iopt->disable_large_pages, false);
 *
 *     (iommufd_ioas_option_huge_pages: return iopt_enable_large_pages(...);)
 *
 * Why it takes several commands and other objects: the IOAS must have had
 * large pages turned off (IOMMU_OPTION val64 0, or VFIO_SET_IOMMU type1v1 on
 * the compat IOAS), and then have both a domain (a device or HWPT attached)
 * and an area (a map) when the user turns them back on. Every step answers
 * as the kernel does until that IOMMU_OPTION, which fails with EINVAL; the
 * IOAS is then stuck with large pages off for as long as any device stays
 * attached with any mapping: every later map is installed PAGE_SIZE at a
 * time (batch_iommu_map_small), the IOAS keeps its PAGE_SIZE minimum IOVA
 * alignment (IOMMU_IOAS_IOVA_RANGES, sub-page maps refused), and
 * IOMMU_OPTION OP_GET keeps reporting 0.
 *
 * Applied as: IOMMU_OPTION HUGE_PAGES SET 1 runs a copy of
 * iommufd_option → iommufd_ioas_option → iommufd_ioas_option_huge_pages
 * with the faulty iopt_enable_large_pages; every other IOMMU_OPTION is the
 * reference's.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation } from '../harness.ts';
import { EFAULT, EINVAL, EOPNOTSUPP } from '../../../impl/lib/errno.ts';
import { IOMMU_OPTION_HUGE_PAGES, IOMMU_OPTION_OP_SET } from '../../../spec/uapi/constants.ts';
import { iommufdGetIoas, type Ucmd } from '../../../impl/iommufd/iommufd_private.ts';
import { ioptEnableLargePages } from '../../../impl/iommufd/io_pagetable.ts';

/** iommufd_option (main.c) for HUGE_PAGES SET val64 1, down to the faulty iopt_enable_large_pages. */
function optionEnableLargePages(ucmd: Ucmd): number {
  const { cmd, ctx } = ucmd;
  if (cmd.num('__reserved')) return -EOPNOTSUPP; // iommufd_option
  if (cmd.num('__reserved')) return -EOPNOTSUPP; // iommufd_ioas_option
  const r = iommufdGetIoas(ctx, cmd.num('object_id'));
  if (r.errno) return r.errno;
  const iopt = r.value!.iopt;
  // THE FAULT: iopt_enable_large_pages refuses as iopt_disable_large_pages does.
  if (iopt.disableLargePages && iopt.domains.length && iopt.areas.length) return -EINVAL;
  ioptEnableLargePages(iopt);
  // iommufd_option: only val64 is copied back.
  return ctx.proc.copyToUser(ucmd.ubuffer + BigInt(cmd.offsetOf('val64')), cmd.fieldBytes('val64')) ? 0 : -EFAULT;
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('option-enable-large-pages-busy', profile, {
    handlers: {
      IOMMU_OPTION: (ucmd, original) => {
        const { cmd } = ucmd;
        const enable = cmd.num('option_id') === IOMMU_OPTION_HUGE_PAGES && cmd.num('op') === IOMMU_OPTION_OP_SET && cmd.big('val64') === 1n;
        return enable ? optionEnableLargePages(ucmd) : original(ucmd);
      },
    },
  });
}
