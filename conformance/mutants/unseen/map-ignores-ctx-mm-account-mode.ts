/**
 * map-ignores-ctx-mm-account-mode (drivers/iommu/iommufd/io_pagetable.c
 * iopt_map_common (7.3; iopt_map_user_pages in 6.12), for IOMMU_IOAS_MAP
 * and the VFIO compat VFIO_IOMMU_MAP_DMA; both profiles).
 *
 * New pages are accounted per user (IOPT_PAGES_ACCOUNT_USER, or NONE with
 * CAP_IPC_LOCK); a context in RLIMIT_MODE 1 (IOMMU_OPTION_RLIMIT_MODE, or a
 * /dev/vfio/vfio container) charges mm->locked_vm instead, VFIO style:
 *
 *     elm.pages = pages;
 *     elm.start_byte = start_byte;
 *     if (ictx->account_mode == IOPT_PAGES_ACCOUNT_MM &&
 *         elm.pages->account_mode == IOPT_PAGES_ACCOUNT_USER)
 *             elm.pages->account_mode = IOPT_PAGES_ACCOUNT_MM;
 *     elm.length = length;
 *
 * THE FAULT: the upgrade is lost (dropped when the map path was split into
 * a common helper): every new mapping is charged to the user's locked_vm
 * whatever the context's mode. In RLIMIT_MODE 1 the pins of a map into an
 * IOAS with a domain no longer raise mm->locked_vm (process_info
 * lockedVmPages stays where it was while pinnedVmPages rises), and the
 * RLIMIT_MEMLOCK test is made against the per-user count, so a map that
 * mm->locked_vm would refuse (ENOMEM) is accepted, or the reverse when the
 * user's count is the higher.
 *
 * Applied as: IOMMU_IOAS_MAP and VFIO_IOMMU_MAP_DMA run the reference's
 * own handlers' steps (iommufd_ioas_map / iommufd_vfio_map_dma) with
 * iopt_map_user_pages told the context is not in MM mode.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation } from '../harness.ts';
import { ioasMapHandler, vfioMapDmaHandler } from './_map.ts';

export function createAdapter(profile: Profile): Implementation {
  // THE FAULT: iopt_map_common no longer passes on ictx->account_mode == IOPT_PAGES_ACCOUNT_MM.
  const steps = { adoptsCtxAccountMode: false };
  const vfioMap = vfioMapDmaHandler(steps);
  return mutantImplementation('map-ignores-ctx-mm-account-mode', profile, {
    handlers: { IOMMU_IOAS_MAP: ioasMapHandler(steps) },
    compat: { VFIO_IOMMU_MAP_DMA: (ctx, d) => vfioMap(ctx, d) },
  });
}
