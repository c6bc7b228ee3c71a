/**
 * Round 7a fault (drivers/iommu/iommufd/io_pagetable.c iopt_reserve_iova).
 *
 * A reserved range (a device's MSI window or other reserved region when it
 * attaches, the part of the IOVA space outside a new domain's aperture, the
 * selftest's ADD_RESERVED) may only be added where nothing is mapped:
 *
 *     if (iopt_area_iter_first(iopt, start, last) ||
 *         iopt_allowed_iter_first(iopt, start, last))
 *             return -EADDRINUSE;
 *
 * The fault keeps only the allowed-range half of the test (the area test was
 * dropped when the function was converted to take the iova_rwsem held by
 * the caller, on the theory that the callers had already checked). Attaching
 * a device then succeeds although user space has memory mapped over the
 * device's MSI doorbell window: the new domain maps the user's pages at the
 * IOVAs the interrupt path owns, so the device's DMA to the MSI window lands
 * in (or is fed from) user memory instead of the interrupt controller — and
 * nothing is reported. The IOAS also ends up with areas inside reserved
 * ranges, which every later path assumes impossible.
 *
 * Applied as: while an ioctl that reserves IOVA runs (a VFIO device ioctl,
 * IOMMU_HWPT_ALLOC, IOMMU_TEST_CMD ADD_RESERVED / MOCK_DOMAIN(_FLAGS) /
 * MOCK_DOMAIN_REPLACE), the IOAS's area-interval lookup
 * (iopt_area_iter_first, the `find` of the area list) finds nothing; those
 * paths use it only in iopt_reserve_iova.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import type { IommufdIoas, IoptArea } from '../../../impl/iommufd/iommufd_private.ts';
import {
  IOMMU_TEST_OP_ADD_RESERVED,
  IOMMU_TEST_OP_MOCK_DOMAIN,
  IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS,
  IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE,
} from '../../../spec/uapi/constants.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';

const RESERVING_TEST_OPS = new Set([IOMMU_TEST_OP_ADD_RESERVED, IOMMU_TEST_OP_MOCK_DOMAIN, IOMMU_TEST_OP_MOCK_DOMAIN_FLAGS, IOMMU_TEST_OP_MOCK_DOMAIN_REPLACE]);

export function createAdapter(profile: Profile): Implementation {
  let reserving = 0;
  const whileReserving = <T>(fn: () => T): T => {
    reserving++;
    try {
      return fn();
    } finally {
      reserving--;
    }
  };
  return mutantImplementation('reserve-iova-skips-area-check', profile, {
    handlers: {
      IOMMU_HWPT_ALLOC: (ucmd, original) => whileReserving(() => original(ucmd)),
      IOMMU_TEST_CMD: (ucmd, original) => (RESERVING_TEST_OPS.has(ucmd.cmd.num('op')) ? whileReserving(() => original(ucmd)) : original(ucmd)),
    },
    vfioIoctl: (_df, _cmd, _arg, original) => whileReserving(original),
    object: (obj) => {
      if (obj?.type !== 'IOAS') return;
      const areas = (obj as IommufdIoas).iopt.areas;
      patchOwn(areas, 'find', (find) =>
        // THE FAULT: iopt_reserve_iova's iopt_area_iter_first() test is gone.
        ((pred: (a: IoptArea, i: number, all: IoptArea[]) => boolean) => (reserving ? undefined : find(pred))) as IoptArea[]['find'],
      );
    },
  });
}
