/**
 * Round 7a fault (drivers/iommu/iommufd/io_pagetable.c
 * iopt_disable_large_pages).
 *
 *     WRITE_ONCE(iopt->disable_large_pages, true);
 *     rc = iopt_calculate_iova_alignment(iopt);
 *     if (rc)
 *             WRITE_ONCE(iopt->disable_large_pages, false);
 *
 * Disabling large pages raises the IOAS's IOVA alignment to PAGE_SIZE, which
 * fails (-EADDRINUSE) when an existing area is not page aligned (a
 * byte-granular map made while no domain was attached). The fault drops the
 * restore on that error path: IOMMU_OPTION(HUGE_PAGES, SET, 0) (or
 * VFIO_SET_IOMMU(VFIO_TYPE1_IOMMU) on the compat IOAS) fails, yet the IOAS
 * is left with large pages disabled. IOMMU_OPTION(HUGE_PAGES, GET) now
 * reports 0, every later map is installed in PAGE_SIZE pieces (no
 * superpages: IOTLB pressure, a silent performance and behaviour change),
 * and the IOAS accepts VFIO type1 v1 style area splits the user never asked
 * for — a failed ioctl with a lasting effect.
 *
 * Applied as: after IOMMU_OPTION(HUGE_PAGES, SET, 0) or VFIO_SET_IOMMU
 * failed with EADDRINUSE on an IOAS whose large pages were enabled,
 * disable_large_pages is left true.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { EADDRINUSE } from '../../../impl/lib/errno.ts';
import { IOMMU_OPTION_HUGE_PAGES, IOMMU_OPTION_OP_SET } from '../../../spec/uapi/constants.ts';
import { IommufdCtx, type IommufdIoas, type IoPagetable } from '../../../impl/iommufd/iommufd_private.ts';
import { commandByName } from '../../../spec/uapi/lookup.ts';
import { mutantImplementation } from '../harness.ts';

/** Run `op` on `iopt`; a -EADDRINUSE with large pages enabled before leaves them disabled. */
function withoutRestore(iopt: IoPagetable | undefined, op: () => number): number {
  const wasDisabled = iopt?.disableLargePages ?? true;
  const rc = op();
  // THE FAULT: the error path does not WRITE_ONCE(iopt->disable_large_pages, false).
  if (rc === -EADDRINUSE && iopt && !wasDisabled) iopt.disableLargePages = true;
  return rc;
}

export function createAdapter(profile: Profile): Implementation {
  const setIommu = commandByName(profile, 'VFIO_SET_IOMMU');
  return mutantImplementation('disable-large-pages-no-restore', profile, {
    handlers: {
      IOMMU_OPTION: (ucmd, original) => {
        const { cmd, ctx } = ucmd;
        if (cmd.num('option_id') !== IOMMU_OPTION_HUGE_PAGES || cmd.num('op') !== IOMMU_OPTION_OP_SET || cmd.big('val64') !== 0n) return original(ucmd);
        const obj = ctx.objects.load(cmd.num('object_id'));
        const iopt = obj?.type === 'IOAS' ? (obj as IommufdIoas).iopt : undefined;
        return withoutRestore(iopt, () => original(ucmd));
      },
    },
    // VFIO_SET_IOMMU(VFIO_TYPE1_IOMMU) is an int-argument compat command: taken around the request.
    request: (req, next, env) => {
      if (req.op !== 'ioctl' || !setIommu) return next(req);
      const isSetIommu = req.cmd === 'VFIO_SET_IOMMU' || req.cmd === setIommu.request;
      if (!isSetIommu) return next(req);
      const ctx = env.proc.fds.lookup(req.fd)?.private_data;
      const ioas = ctx instanceof IommufdCtx ? ctx.vfioIoas : null;
      const iopt = ioas?.type === 'IOAS' ? (ioas as IommufdIoas).iopt : undefined;
      const wasDisabled = iopt?.disableLargePages ?? true;
      const res = next(req);
      const result = (res as { ok: boolean; result?: { errno?: number } }).result;
      // THE FAULT (as above).
      if (iopt && !wasDisabled && result?.errno === EADDRINUSE) iopt.disableLargePages = true;
      return res;
    },
  });
}
