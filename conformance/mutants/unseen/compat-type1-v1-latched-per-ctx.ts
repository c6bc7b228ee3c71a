/**
 * compat-type1-v1-latched-per-ctx (drivers/iommu/iommufd/vfio_compat.c
 * iommufd_vfio_set_iommu and iommufd_vfio_unmap_dma).
 *
 * VFIO type1 v1 may unmap part of a mapping; iommufd emulates it by
 * disabling large pages on the compat IOAS at VFIO_SET_IOMMU(TYPE1), and
 * VFIO_IOMMU_UNMAP_DMA cuts the areas at the ends of the range whenever the
 * IOAS it acts on has large pages disabled — the IOAS's own state, which
 * IOMMU_OPTION_HUGE_PAGES can also change, and which follows the compat
 * IOAS when IOMMU_VFIO_IOAS_SET points the container at another one:
 *
 *     static int iommufd_vfio_set_iommu(struct iommufd_ctx *ictx, unsigned long type)
 *     {
 *             ...
 *             ioas = get_compat_ioas(ictx);
 *             ...
 *             if (type == VFIO_TYPE1_IOMMU)
 *                     rc = iopt_disable_large_pages(&ioas->iopt);
 *             iommufd_put_object(ictx, &ioas->obj);
 *             return rc;
 *     }
 *
 *     static int iommufd_vfio_unmap_dma(...)
 *     {
 *             ...
 *             } else {
 *                     if (READ_ONCE(ioas->iopt.disable_large_pages)) {
 *                             unsigned long iovas[] = { unmap.iova + unmap.size - 1,
 *                                                       unmap.iova - 1 };
 *
 *                             rc = iopt_cut_iova(&ioas->iopt, iovas,
 *                                                unmap.iova ? 2 : 1);
 *                             if (rc)
 *                                     goto err_put;
 *                     }
 *                     rc = iopt_unmap_iova(&ioas->iopt, unmap.iova, unmap.size,
 *                                          &unmapped);
 *             }
 *
 * THE FAULT: the v1/v2 choice is treated as a property of the container,
 * as VFIO's own type1 driver keeps it (iommu->v2): iommufd_vfio_set_iommu
 * records it in the context when it succeeds (TYPE1: v1, TYPE1v2: not),
 * and iommufd_vfio_unmap_dma tests that record instead of the IOAS:
 *
 *             if (type == VFIO_TYPE1_IOMMU)
 *                     rc = iopt_disable_large_pages(&ioas->iopt);
 *             if (!rc)
 *                     ictx->vfio_type1_v1 = type == VFIO_TYPE1_IOMMU;
 *             ...
 *                     if (READ_ONCE(ictx->vfio_type1_v1)) {
 *
 * While the container keeps one IOAS and nobody touches its huge-page
 * option the two agree. They part when they should not:
 *   - after IOMMU_VFIO_IOAS_SET to another IOAS (large pages enabled), or
 *     IOMMU_OPTION_HUGE_PAGES=1 on the compat IOAS, a partial UNMAP_DMA
 *     still cuts: where the kernel refuses it (ENOENT: it would split an
 *     area) and leaves the whole mapping in place for DMA, the fault
 *     splits the area and unmaps the middle (or, when a domain may hold
 *     huge pages there, answers EINVAL instead of ENOENT);
 *   - on a compat IOAS whose large pages were disabled with
 *     IOMMU_OPTION_HUGE_PAGES=0 (or by a TYPE1 container before a later
 *     SET_IOMMU(TYPE1v2)), a partial UNMAP_DMA no longer cuts: the kernel
 *     unmaps exactly the requested range, the fault answers ENOENT and the
 *     range stays mapped and reachable by the devices.
 *
 * Applied as: VFIO_SET_IOMMU is the reference's, followed by the record
 * on success; VFIO_IOMMU_UNMAP_DMA is the shared copy of
 * iommufd_vfio_unmap_dma (_unmap.ts) testing the record. Everything else is the
 * reference's.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { VFIO_SET_IOMMU, VFIO_TYPE1_IOMMU } from '../../../spec/uapi/constants.ts';
import type { IommufdCtx } from '../../../impl/iommufd/iommufd_private.ts';
import { ioptCutIova, ioptUnmapIovaRange } from '../../../impl/iommufd/io_pagetable.ts';
import type { KFile } from '../../../impl/process/file.ts';
import { mutantImplementation, patchOwn } from '../harness.ts';
import { vfioUnmapDmaWith } from './_unmap.ts';

/** ictx->vfio_type1_v1: what the last successful VFIO_SET_IOMMU of each context chose (THE FAULT). */
const type1v1 = new WeakMap<IommufdCtx, boolean>();

/** iommufd_vfio_set_iommu as the reference's, then the record of the container's type on success (THE FAULT). */
function recordSetIommu(file: KFile): void {
  if (file.kind !== 'iommufd') return;
  const ctx = file.private_data as IommufdCtx;
  patchOwn(file, 'ops', (ops) => ({
    ...ops,
    ioctl: (f: KFile, cmd: number, arg: bigint) => {
      const rc = ops.ioctl!(f, cmd, arg);
      if (cmd === VFIO_SET_IOMMU && rc === 0 && !ctx.noIommuMode) type1v1.set(ctx, arg === BigInt(VFIO_TYPE1_IOMMU));
      return rc;
    },
  }));
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('compat-type1-v1-latched-per-ctx', profile, {
    // THE FAULT: the cut test reads the context's record, not READ_ONCE(ioas->iopt.disable_large_pages).
    compat: { VFIO_IOMMU_UNMAP_DMA: vfioUnmapDmaWith(ioptUnmapIovaRange, ioptCutIova, (ctx) => type1v1.get(ctx) === true) },
    process: (proc) => {
      patchOwn(proc.fds, 'fdInstall', (fdInstall) => (fd, file) => {
        fdInstall(fd, file);
        recordSetIommu(file);
      });
    },
  });
}
