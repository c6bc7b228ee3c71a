/**
 * huge-pages-busy-check-first (drivers/iommu/iommufd/io_pagetable.c
 * iopt_disable_large_pages, reached by IOMMU_OPTION
 * IOMMU_OPTION_HUGE_PAGES / IOMMU_OPTION_OP_SET with val64 0 —
 * drivers/iommu/iommufd/ioas.c iommufd_ioas_option_huge_pages; 6.12 and
 * 7.3).
 *
 * Disabling large pages on an IOAS changes how the next domain fill maps the
 * areas (one PAGE_SIZE at a time, so VFIO type1 v1 partial unmaps can split
 * them), so it is refused once some domain may already hold large leaves of
 * existing areas. Setting the value the IOAS already has is a no-op and
 * answers 0 — the option is a setting, and setting it again is how a VMM
 * (or a second user of a shared IOAS) makes sure of it:
 *
 *     down_write(&iopt->domains_rwsem);
 *     down_write(&iopt->iova_rwsem);
 *     if (iopt->disable_large_pages)
 *             goto out_unlock;
 *
 *     // Won't do it if domains already have pages mapped in them
 *     if (!xa_empty(&iopt->domains) &&
 *         !RB_EMPTY_ROOT(&iopt->area_itree.rb_root)) {
 *             rc = -EINVAL;
 *             goto out_unlock;
 *     }
 *
 *     WRITE_ONCE(iopt->disable_large_pages, true);
 *     rc = iopt_calculate_iova_alignment(iopt);
 *
 * THE FAULT swaps the two early exits (the "is it allowed" test hoisted
 * above the "is there anything to do" one, the usual shape of a function
 * that validates before acting): the busy test now runs even when large
 * pages are already disabled.
 *
 * It takes several commands and two kinds of object to see: disable large
 * pages on an IOAS while it is still empty or has no domain (allowed — the
 * documented way to get PAGE_SIZE-granular domains for VFIO type1 v1
 * compatibility), then attach a device (a domain) and map; now asking
 * again for the setting that is in force, IOMMU_OPTION SET val64=0, fails
 * EINVAL where the kernel answers 0. Nothing changes either way (large pages
 * stay disabled, IOMMU_OPTION GET still answers 0): the harm is the errno —
 * a VMM that (re)applies its IOAS settings after hot-adding a device, or a
 * second component sharing the IOAS, sees its request refused and tears
 * the setup down or concludes the kernel cannot give it split-able
 * mappings.
 *
 * Applied as: IOMMU_OPTION for IOMMU_OPTION_HUGE_PAGES through a copy of
 * iommufd_option → iommufd_ioas_option → iommufd_ioas_option_huge_pages
 * whose disable makes the busy test first; IOMMU_OPTION_RLIMIT_MODE is the
 * reference's.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation } from '../harness.ts';
import { EFAULT, EINVAL, EOPNOTSUPP } from '../../../impl/lib/errno.ts';
import { IOMMU_OPTION_HUGE_PAGES, IOMMU_OPTION_OP_GET, IOMMU_OPTION_OP_SET } from '../../../spec/uapi/constants.ts';
import { iommufdGetIoas, type IoPagetable, type Ucmd } from '../../../impl/iommufd/iommufd_private.ts';
import { ioptDisableLargePages, ioptEnableLargePages } from '../../../impl/iommufd/io_pagetable.ts';

/** iopt_disable_large_pages with THE FAULT: the busy test before the already-disabled exit. */
function disableLargePages(iopt: IoPagetable): number {
  if (iopt.domains.length && iopt.areas.length) return -EINVAL; // THE FAULT: hoisted
  if (iopt.disableLargePages) return 0;
  return ioptDisableLargePages(iopt);
}

/** iommufd_ioas_option + iommufd_ioas_option_huge_pages. */
function ioasOption(ucmd: Ucmd): number {
  const { cmd, ctx } = ucmd;
  if (cmd.num('__reserved')) return -EOPNOTSUPP;
  const r = iommufdGetIoas(ctx, cmd.num('object_id'));
  if (r.errno) return r.errno;
  if (cmd.num('option_id') !== IOMMU_OPTION_HUGE_PAGES) return -EOPNOTSUPP;
  const iopt = r.value!.iopt;
  const opv = cmd.num('op');
  if (opv === IOMMU_OPTION_OP_GET) {
    cmd.set('val64', iopt.disableLargePages ? 0n : 1n);
    return 0;
  }
  if (opv === IOMMU_OPTION_OP_SET) {
    const val = cmd.big('val64');
    if (val === 0n) return disableLargePages(iopt);
    if (val === 1n) {
      ioptEnableLargePages(iopt);
      return 0;
    }
    return -EINVAL;
  }
  return -EOPNOTSUPP;
}

/** iommufd_option for IOMMU_OPTION_HUGE_PAGES: on success val64 alone is copied back. */
function option(ucmd: Ucmd, original: (ucmd: Ucmd) => number): number {
  const { cmd } = ucmd;
  if (cmd.num('__reserved') || cmd.num('option_id') !== IOMMU_OPTION_HUGE_PAGES) return original(ucmd);
  const rc = ioasOption(ucmd);
  if (rc) return rc;
  return ucmd.ctx.proc.copyToUser(ucmd.ubuffer + BigInt(cmd.offsetOf('val64')), cmd.fieldBytes('val64')) ? 0 : -EFAULT;
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('huge-pages-busy-check-first', profile, {
    handlers: { IOMMU_OPTION: option },
  });
}
