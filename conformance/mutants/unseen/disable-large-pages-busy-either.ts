/**
 * disable-large-pages-busy-either (drivers/iommu/iommufd/io_pagetable.c
 * iopt_disable_large_pages, reached from IOMMU_OPTION IOMMU_OPTION_HUGE_PAGES
 * OP_SET val64 = 0 through iommufd_ioas_option_huge_pages, and from the VFIO
 * type1 compat VFIO_SET_IOMMU(VFIO_TYPE1_IOMMU) on the compat IOAS; 6.12 and
 * 7.3).
 *
 * Turning large pages off for an IOAS is refused only when it could no
 * longer be honoured: when a domain already holds mappings, which it may
 * have installed with large IOPTEs that a later cut (the type1 v1 partial
 * unmap the switch exists for) could not split. A domain without mappings,
 * or mappings without a domain, are fine — every later fill (a map into the
 * domains, an attach filling a new domain) then uses PAGE_SIZE pieces:
 *
 *     // Won't do it if domains already have pages mapped in them
 *     if (!xa_empty(&iopt->domains) &&
 *         !RB_EMPTY_ROOT(&iopt->area_itree.rb_root)) {
 *             rc = -EINVAL;
 *             goto out_unlock;
 *     }
 *
 * THE FAULT turns the conjunction into a disjunction ("won't do it if the
 * IOAS is in use"):
 *
 *     if (!xa_empty(&iopt->domains) ||
 *         !RB_EMPTY_ROOT(&iopt->area_itree.rb_root)) {
 *
 * A fresh IOAS still switches, and an IOAS whose domains hold mappings is
 * refused as before; nothing differs on the first command or on an empty
 * IOAS. The switch is refused with EINVAL once the IOAS has either a device
 * or HWPT attached (even with nothing mapped yet) or a mapping (even with no
 * device attached yet) — the two orders in which a VMM sets up an IOAS
 * before choosing its mode.
 *
 * Consequence: IOMMU_OPTION(HUGE_PAGES, SET, 0) fails after an attach or a
 * map although the kernel allows it; the IOAS keeps large pages enabled (GET
 * reports 1) and its IOVA alignment stays below PAGE_SIZE where it would
 * have been raised; a VFIO type1 (v1) container whose group is attached
 * before VFIO_SET_IOMMU gets EINVAL from VFIO_SET_IOMMU(VFIO_TYPE1_IOMMU)
 * and never gets the v1 unmap semantics (its partial unmaps then fail with
 * ENOENT instead of cutting the mapping).
 *
 * Applied as: around IOMMU_OPTION (HUGE_PAGES, SET, 0) and
 * VFIO_SET_IOMMU(VFIO_TYPE1_IOMMU), once the command has found its IOAS
 * (the named one; the compat one) and large pages are still enabled on it:
 * EINVAL when exactly one of domains and areas is non-empty (both
 * non-empty is the reference's own EINVAL); otherwise the reference.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { EINVAL } from '../../../impl/lib/errno.ts';
import { IOMMU_OPTION_HUGE_PAGES, IOMMU_OPTION_OP_SET, VFIO_TYPE1_IOMMU } from '../../../spec/uapi/constants.ts';
import { iommufdIoctlDecode } from '../../../impl/iommufd/main.ts';
import type { IommufdCtx, IommufdIoas, IoPagetable } from '../../../impl/iommufd/iommufd_private.ts';
import type { KFileOps } from '../../../impl/process/file.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';

/** The faulty busy test of iopt_disable_large_pages, where it refuses and the kernel's does not. */
function refusedOnlyByFault(iopt: IoPagetable): boolean {
  if (iopt.disableLargePages) return false; // goto out_unlock: nothing to do
  const domains = iopt.domains.length !== 0;
  const areas = iopt.areas.length !== 0;
  // THE FAULT: `!xa_empty(&iopt->domains) || !RB_EMPTY_ROOT(&iopt->area_itree.rb_root)`.
  return domains !== areas;
}

/** get_compat_ioas (vfio_compat.c): the compat IOAS if it is still in the table. */
function compatIoas(ctx: IommufdCtx): IommufdIoas | null {
  const ioas = ctx.vfioIoas;
  if (!ioas || ioas.type !== 'IOAS' || ctx.objects.load(ioas.id) !== ioas) return null;
  return ioas as IommufdIoas;
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('disable-large-pages-busy-either', profile, {
    handlers: {
      IOMMU_OPTION: (ucmd, original) => {
        const { cmd, ctx } = ucmd;
        const disable = !cmd.num('__reserved') && cmd.num('option_id') === IOMMU_OPTION_HUGE_PAGES && cmd.num('op') === IOMMU_OPTION_OP_SET && cmd.big('val64') === 0n;
        if (!disable) return original(ucmd);
        const obj = ctx.objects.load(cmd.num('object_id'));
        // iommufd_get_ioas failed, or the kernel's own path: the reference answers.
        if (obj?.type !== 'IOAS' || !refusedOnlyByFault((obj as IommufdIoas).iopt)) return original(ucmd);
        return -EINVAL;
      },
    },
    // VFIO_SET_IOMMU is an int-argument compat command: taken at the file's ioctl.
    ctx: (ctx) => {
      const file = ctx.file;
      if (!file) return;
      patchOwn(file, 'ops', (ops: KFileOps): KFileOps => ({
        ...ops,
        ioctl: (f, cmd, arg) => {
          const d = iommufdIoctlDecode(ctx, cmd, arg);
          if (d.ok && d.kind === 'int' && d.command.name === 'VFIO_SET_IOMMU' && d.arg === BigInt(VFIO_TYPE1_IOMMU) && !ctx.noIommuMode) {
            const ioas = compatIoas(ctx);
            if (ioas && refusedOnlyByFault(ioas.iopt)) return -EINVAL;
          }
          return ops.ioctl!(f, cmd, arg);
        },
      }));
    },
  });
}
