/**
 * unmap-notify-last-as-length (drivers/iommu/iommufd/io_pagetable.c
 * iopt_unmap_iova_range, reached from IOMMU_IOAS_UNMAP and the VFIO type1
 * compat VFIO_IOMMU_UNMAP_DMA).
 *
 * An area that in-kernel accesses (mdev / emulated devices, the selftest's
 * access) have pinned cannot be torn down until they let go: the walk marks
 * it prevent_access, calls every access of the IOAS with the area's range so
 * the driver unpins what it holds there, and restarts:
 *
 *     if (area->num_accesses) {
 *             size_t length = iopt_area_length(area);
 *
 *             start = area_first;
 *             area->prevent_access = true;
 *             up_write(&iopt->iova_rwsem);
 *             up_read(&iopt->domains_rwsem);
 *
 *             iommufd_access_notify_unmap(iopt, area_first, length);
 *             ...
 *             goto again;
 *     }
 *
 * iommufd_access_notify_unmap(iopt, iova, length) hands (iova, length) to each
 * driver's ops->unmap, which must drop every pin it has in
 * [iova, iova + length - 1]. The fault passes the area's last IOVA where the
 * length goes — the (first, last) pair every iopt_* helper around it takes:
 *
 *     iommufd_access_notify_unmap(iopt, area_first, area_last);
 *
 * The drivers are then told that [area_first, area_first + area_last - 1] is
 * going away: for any area above IOVA 0 that is far more than the area (an
 * area at 16 MiB covers the drivers' view up to 32 MiB, one at 4 GiB up to
 * 8 GiB). Every access pin inside that span is revoked — the driver unpins and
 * forgets it (the selftest access drops the item, an mdev driver invalidates
 * its shadow mapping) — also on areas the user is not unmapping and that stay
 * mapped. (Near the top of the IOVA space the end wraps; the drivers then see
 * a range that ends below its start, drop nothing, and the walk gives up with
 * EDEADLOCK after 100 retries.)
 *
 * Consequence: one area's unmap takes an in-kernel access's pins away from
 * other, still mapped areas. The IOMMU_IOAS_UNMAP itself answers correctly;
 * afterwards the access's pages there are no longer pinned (pin counts drop,
 * the memory can be reclaimed or freed under a driver that believed it had
 * it pinned until told otherwise — here it was told, wrongly), and the
 * access's handle for that pin is gone (IOMMU_TEST_OP_DESTROY_ACCESS_PAGES of
 * it answers ENOENT). Two areas and an access are needed to see it: an area
 * pinned alone is unmapped exactly as before.
 *
 * Applied as: IOMMU_IOAS_UNMAP and VFIO_IOMMU_UNMAP_DMA walk through
 * _unmap.ts's copy of the reference's iopt_unmap_iova_range, whose `told`
 * step notifies the accesses with (area_first, area_last), the length
 * wrapping as the kernel's unsigned long does. (iommufd_access_change_ioas notifies (0, ULONG_MAX)
 * itself, and an IOAS is destroyed only once no access holds it: unchanged.)
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation } from '../harness.ts';
import { ioptAreaUnfillDomains } from '../../../impl/iommufd/pages.ts';
import { HAS_ACCESSES, ioasUnmapWith, type RangeUnmap, REFUSES_CUT, type Told, unmapRange, vfioUnmapDmaWith } from './_unmap.ts';

const U64 = 1n << 64n;

/**
 * THE FAULT: iommufd_access_notify_unmap(iopt, area_first, area_last), not iopt_area_length(area).
 * A driver computes iova + length - 1 in unsigned long: the length handed on keeps that end.
 */
const lastAsLength: Told = (area) => {
  const driverLast = (area.start + area.last - 1n) % U64;
  return { iova: area.start, length: driverLast - area.start + 1n };
};

/** iopt_unmap_iova_range with the faulty notification. */
const unmapRangeFaulty: RangeUnmap = (iopt, start, last, unmapped) => unmapRange(iopt, start, last, unmapped, ioptAreaUnfillDomains, REFUSES_CUT, HAS_ACCESSES, lastAsLength);

export function createAdapter(profile: Profile): Implementation {
  const vfioUnmap = vfioUnmapDmaWith(unmapRangeFaulty);
  return mutantImplementation('unmap-notify-last-as-length', profile, {
    handlers: { IOMMU_IOAS_UNMAP: ioasUnmapWith(unmapRangeFaulty) },
    compat: { VFIO_IOMMU_UNMAP_DMA: (ctx, d, arg) => vfioUnmap(ctx, d, arg) },
  });
}
