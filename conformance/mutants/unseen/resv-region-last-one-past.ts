/**
 * resv-region-last-one-past (drivers/iommu/iommufd/io_pagetable.c
 * iopt_table_enforce_dev_resv_regions, 6.12 and 7.3; reached when a device
 * joins an IOAS: VFIO_DEVICE_ATTACH_IOMMUFD_PT by IOAS or HWPT id, including
 * an automatic domain's immediate attach, and a replace onto a HWPT of
 * another IOAS).
 *
 * Every region iommu_get_resv_regions() reports for the device (the x86 MSI
 * window, AMD's HyperTransport hole, an ARM SW_MSI window, firmware RMRRs)
 * except the relaxable direct ones is reserved in the IOAS for as long as the
 * device is attached there. A region is described by start and length; the
 * reservation takes the inclusive last IOVA, written so that it cannot wrap:
 *
 *     rc = iopt_reserve_iova(iopt, resv->start,
 *                            resv->length - 1 + resv->start, dev);
 *
 * THE FAULT is the "simplified" bound, start + length (the end, exclusive,
 * handed to a function that wants the last byte):
 *
 *     rc = iopt_reserve_iova(iopt, resv->start,
 *                            resv->start + resv->length, dev);
 *
 * so every reservation covers one byte more than the region: the first byte
 * after it (0xfef00000 after the x86 MSI window [0xfee00000, 0xfeefffff],
 * 0x8100000 after an ARM SW_MSI window [0x8000000, 0x80fffff], 0x10000000000
 * after AMD's HT hole).
 *
 * Why it takes two objects and several commands: the attach itself succeeds
 * and answers right; the extra byte lives on in the IOAS (owned by the
 * device, dropped again when it detaches) and trips later commands on the
 * IOAS — and further attaches:
 *   - IOMMU_IOAS_IOVA_RANGES reports the hole after the region starting one
 *     byte late (0xfef00001) — a range no page-aligned mapping can start;
 *   - a fixed IOMMU_IOAS_MAP / IOAS_COPY / VFIO_IOMMU_MAP_DMA at the page
 *     right after the region (free, aligned, outside every reserved region)
 *     is refused with EINVAL (iopt_check_iova: "No reserved IOVA intersects");
 *   - IOMMU_IOAS_ALLOW_IOVAS of a range starting there fails EADDRINUSE;
 *   - and the other way round: a device attached to an IOAS that already
 *     maps (or allows) that page is refused with EADDRINUSE — e.g. a VMM that
 *     has laid guest RAM out right after an ARM GIC MSI window, or a second
 *     IOAS user that mapped there before the device came (attach by IOAS id,
 *     replace onto a HWPT of that IOAS).
 * Nothing of it is visible until a later command uses the page after a
 * region; nothing is wrong inside the regions themselves.
 *
 * Applied as: every device bound to an iommufd context of the process hands
 * the attach and replace paths (which call iopt_table_enforce_dev_resv_regions
 * with the device's regions) each region with its last IOVA one byte further
 * (start + length), the only use of the list in the reference.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';
import { ULONG_MAX, type IommufdDevice } from '../../../impl/iommufd/iommufd_private.ts';
import type { SimDevice } from '../../../impl/platform/iommu.ts';

export function createAdapter(profile: Profile): Implementation {
  /** Devices whose region list is already patched (a device may be bound again). */
  const patched = new WeakSet<SimDevice>();
  return mutantImplementation('resv-region-last-one-past', profile, {
    object: (obj) => {
      if (obj?.type !== 'DEVICE') return;
      const dev = (obj as IommufdDevice).dev;
      if (patched.has(dev)) return;
      patched.add(dev);
      patchOwn(dev, 'resvRegions', (resvRegions) => () =>
        resvRegions().map((r) => {
          // resv->length = last - start + 1. THE FAULT: resv->start + resv->length (one past the region).
          const last = r.start + (r.last - r.start + 1n);
          return { ...r, last: last > ULONG_MAX ? last - ULONG_MAX - 1n : last };
        }),
      );
    },
  });
}
