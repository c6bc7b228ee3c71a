/**
 * option-huge-pages-unknown-op-sets (iommufd_ioas_option_huge_pages,
 * drivers/iommu/iommufd/ioas.c; reached by IOMMU_OPTION with option_id
 * IOMMU_OPTION_HUGE_PAGES and an `op` that is neither OP_SET (0) nor
 * OP_GET (1); 6.12 and 7.3).
 *
 * The kernel's code (6.12 and 7.3 alike):
 *
 *     static int iommufd_ioas_option_huge_pages(struct iommu_option *cmd,
 *                                               struct iommufd_ioas *ioas)
 *     {
 *             if (cmd->op == IOMMU_OPTION_OP_GET) {
 *                     cmd->val64 = !ioas->iopt.disable_large_pages;
 *                     return 0;
 *             }
 *             if (cmd->op == IOMMU_OPTION_OP_SET) {
 *                     if (cmd->val64 == 0)
 *                             return iopt_disable_large_pages(&ioas->iopt);
 *                     if (cmd->val64 == 1) {
 *                             iopt_enable_large_pages(&ioas->iopt);
 *                             return 0;
 *                     }
 *                     return -EINVAL;
 *             }
 *             return -EOPNOTSUPP;
 *     }
 *
 * An op the kernel does not know is EOPNOTSUPP and changes nothing.
 *
 * The fault: with only two ops defined, the SET branch is written as the
 * fall-through of the GET test ("if (op == GET) { ...; return 0; }", then
 * the SET code under a "// IOMMU_OPTION_OP_SET" comment), so the `if (cmd->op ==
 * IOMMU_OPTION_OP_SET)` guard and the final `return -EOPNOTSUPP` are gone.
 * Any op other than GET (2, 0xffff, ...) then acts as a SET: with val64 0
 * it disables large pages on the IOAS (answering 0, and val64 is copied
 * back by iommufd_option), with val64 1 it re-enables them, with anything
 * else it is EINVAL instead of EOPNOTSUPP. The changed IOAS shows it later:
 * OP_GET reports 0, IOMMU_IOAS_IOVA_RANGES reports an out_iova_alignment of
 * PAGE_SIZE, an IOAS_MAP of a sub-page-aligned range (that the kernel
 * accepts on an IOAS without domains) is EINVAL, and mappings are made of
 * PAGE_SIZE pieces. RLIMIT_MODE's own op handling is the reference's.
 *
 * Applied as: IOMMU_OPTION with option_id IOMMU_OPTION_HUGE_PAGES runs a
 * copy of iommufd_option -> iommufd_ioas_option -> the faulty
 * iommufd_ioas_option_huge_pages; every other option is the reference's.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { EFAULT, EINVAL, EOPNOTSUPP } from '../../../impl/lib/errno.ts';
import { IOMMU_OPTION_HUGE_PAGES, IOMMU_OPTION_OP_GET } from '../../../spec/uapi/constants.ts';
import { iommufdGetIoas, type Ucmd } from '../../../impl/iommufd/iommufd_private.ts';
import { ioptDisableLargePages, ioptEnableLargePages } from '../../../impl/iommufd/io_pagetable.ts';
import { mutantImplementation } from '../harness.ts';

/** iommufd_ioas_option -> iommufd_ioas_option_huge_pages with THE FAULT: every op but GET is a SET. */
function ioasOptionHugePages(ucmd: Ucmd): number {
  const { cmd, ctx } = ucmd;
  if (cmd.num('__reserved')) return -EOPNOTSUPP;
  const r = iommufdGetIoas(ctx, cmd.num('object_id'));
  if (r.errno) return r.errno;
  const iopt = r.value!.iopt;
  if (cmd.num('op') === IOMMU_OPTION_OP_GET) {
    cmd.set('val64', iopt.disableLargePages ? 0n : 1n);
    return 0;
  }
  // (the kernel's `if (cmd->op == IOMMU_OPTION_OP_SET)` is missing)
  const val = cmd.big('val64');
  if (val === 0n) return ioptDisableLargePages(iopt);
  if (val === 1n) {
    ioptEnableLargePages(iopt);
    return 0;
  }
  return -EINVAL;
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('option-huge-pages-unknown-op-sets', profile, {
    handlers: {
      IOMMU_OPTION: (ucmd, original) => {
        const { cmd, ctx } = ucmd;
        // iommufd_option
        if (cmd.num('__reserved')) return -EOPNOTSUPP;
        if (cmd.num('option_id') !== IOMMU_OPTION_HUGE_PAGES) return original(ucmd);
        const rc = ioasOptionHugePages(ucmd);
        if (rc) return rc;
        return ctx.proc.copyToUser(ucmd.ubuffer + BigInt(cmd.offsetOf('val64')), cmd.fieldBytes('val64')) ? 0 : -EFAULT;
      },
    },
  });
}
