/**
 * C8.3 — set-iommu-v1-test-swapped (drivers/iommu/iommufd/vfio_compat.c
 * iommufd_vfio_set_iommu).
 *
 * VFIO_SET_IOMMU accepts VFIO_TYPE1_IOMMU and VFIO_TYPE1v2_IOMMU alike, and
 * only the original type1 turns huge pages off on the compat IOAS, because
 * type1 v1 lets VFIO_IOMMU_UNMAP_DMA cut a mapping anywhere:
 *     if (type == VFIO_TYPE1_IOMMU)
 *             rc = iopt_disable_large_pages(&ioas->iopt);
 * The fault tests the other constant (type == VFIO_TYPE1v2_IOMMU). A v1
 * container keeps large pages: its partial unmaps are no longer cut but
 * refused, and a v2 container (every modern QEMU) silently gets v1 semantics:
 * large pages off (IOMMU_OPTION HUGE_PAGES reads 0, maps are made of 4 KiB
 * IOPTEs, VFIO_IOMMU_GET_INFO reports the smaller page sizes) and an unmap
 * inside a mapping cuts it instead of failing.
 *
 * Applied as: VFIO_SET_IOMMU on an iommufd file is handled by the
 * reference's compat code with the two type1 constants exchanged (every
 * other check of the function treats them alike).
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { VFIO_TYPE1_IOMMU, VFIO_TYPE1v2_IOMMU } from '../../../spec/uapi/constants.ts';
import { iommufdIoctlDecode } from '../../../impl/iommufd/main.ts';
import { iommufdVfioIoctl } from '../../../impl/iommufd/vfio_compat.ts';
import type { KFileOps } from '../../../impl/process/file.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';

const V1 = BigInt(VFIO_TYPE1_IOMMU);
const V2 = BigInt(VFIO_TYPE1v2_IOMMU);

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('set-iommu-v1-test-swapped', profile, {
    ctx: (ctx) => {
      const file = ctx.file;
      if (!file) return;
      patchOwn(file, 'ops', (ops: KFileOps): KFileOps => ({
        ...ops,
        ioctl: (f, cmd, arg) => {
          const d = iommufdIoctlDecode(ctx, cmd, arg);
          if (d.ok && d.kind === 'int' && d.command.name === 'VFIO_SET_IOMMU' && (d.arg === V1 || d.arg === V2)) {
            // THE FAULT: `if (type == VFIO_TYPE1v2_IOMMU) iopt_disable_large_pages(...)`.
            return iommufdVfioIoctl(ctx, { ...d, arg: d.arg === V1 ? V2 : V1 }, arg);
          }
          return ops.ioctl!(f, cmd, arg);
        },
      }));
    },
  });
}
