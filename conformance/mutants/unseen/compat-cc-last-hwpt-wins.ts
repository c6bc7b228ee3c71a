/**
 * Round 7a fault (drivers/iommu/iommufd/vfio_compat.c iommufd_vfio_cc_iommu).
 *
 * VFIO_CHECK_EXTENSION(VFIO_DMA_CC_IOMMU) on a VFIO container served by
 * iommufd must answer 1 only when every paging HWPT of the compat IOAS
 * enforces cache coherency (no-snoop TLPs blocked):
 *
 *     list_for_each_entry(hwpt_paging, &ioas->hwpt_list, hwpt_item) {
 *             if (!hwpt_paging->enforce_cache_coherency) {
 *                     rc = 0;
 *                     break;
 *             }
 *     }
 *
 * The fault is the loop written as an assignment,
 *
 *     list_for_each_entry(hwpt_paging, &ioas->hwpt_list, hwpt_item)
 *             rc = hwpt_paging->enforce_cache_coherency;
 *
 * so the HWPT created last decides. With a non-coherent device's domain
 * first and a coherent one after it, the container claims coherent DMA: a VMM
 * (QEMU's vfio container code) then tells KVM it need not emulate WBINVD,
 * and a guest driving the non-coherent device through no-snoop DMA reads
 * stale cache lines / leaves dirty lines the device never sees.
 *
 * Applied as: while a VFIO_CHECK_EXTENSION request runs, iterating an IOAS's
 * hwpt_list yields only its last HWPT (what "last one wins" decides on).
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import type { IommufdHwptPaging, IommufdIoas } from '../../../impl/iommufd/iommufd_private.ts';
import { commandByName } from '../../../spec/uapi/lookup.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';

export function createAdapter(profile: Profile): Implementation {
  const checkExtension = commandByName(profile, 'VFIO_CHECK_EXTENSION');
  let inCheckExtension = false;
  return mutantImplementation('compat-cc-last-hwpt-wins', profile, {
    request: (req, next) => {
      if (req.op !== 'ioctl' || !checkExtension) return next(req);
      const isCheck = req.cmd === 'VFIO_CHECK_EXTENSION' || req.cmd === checkExtension.request;
      if (!isCheck) return next(req);
      inCheckExtension = true;
      try {
        return next(req);
      } finally {
        inCheckExtension = false;
      }
    },
    object: (obj) => {
      if (obj?.type !== 'IOAS') return;
      const list = (obj as IommufdIoas).hwptList as IommufdHwptPaging[];
      patchOwn(list, Symbol.iterator, (iterate) =>
        function (this: IommufdHwptPaging[]) {
          if (!inCheckExtension) return iterate();
          // THE FAULT: rc = hwpt_paging->enforce_cache_coherency for each; the last one wins.
          const last = list[list.length - 1];
          return (last ? [last] : [])[Symbol.iterator]();
        } as IommufdHwptPaging[][typeof Symbol.iterator],
      );
    },
  });
}
