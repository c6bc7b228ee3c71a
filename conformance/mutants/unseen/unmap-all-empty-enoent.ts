/**
 * unmap-all-empty-enoent (drivers/iommu/iommufd/io_pagetable.c
 * iopt_unmap_all).
 *
 * iopt_unmap_iova_range answers -ENOENT when it unmapped nothing (rc starts
 * as -ENOENT and becomes 0 only once unmapped_bytes is non-zero). Unmapping
 * everything is different: an empty IOAS is a success, and iopt_unmap_all
 * turns that ENOENT into 0:
 *
 *     int iopt_unmap_all(struct io_pagetable *iopt, unsigned long *unmapped)
 *     {
 *             int rc;
 *
 *             rc = iopt_unmap_iova_range(iopt, 0, ULONG_MAX, unmapped);
 *             // (the kernel's comment: "If the IOVAs are empty then unmap all succeeds")
 *             if (rc == -ENOENT)
 *                     return 0;
 *             return rc;
 *     }
 *
 * THE FAULT: the conversion is lost (iopt_unmap_all becomes a plain
 * `return iopt_unmap_iova_range(iopt, 0, ULONG_MAX, unmapped);`, as a
 * cleanup that folds the wrapper would write), so unmap-all of an IOAS with
 * no mapping fails with ENOENT. iommufd_ioas_destroy does not notice
 * (WARN_ON(rc && rc != -ENOENT)); its two uAPI callers do.
 *
 * Consequence for a user: IOMMU_IOAS_UNMAP with iova 0 and length U64_MAX —
 * documented to unmap everything and to succeed on an empty IOAS — fails with
 * ENOENT when nothing is mapped, and so does the type1 compat
 * VFIO_IOMMU_UNMAP_DMA with VFIO_DMA_UNMAP_FLAG_ALL (size 0 is still written
 * back). A VMM that clears an IOAS on reset, or a VFIO application that
 * unmaps all on an empty container (what type1 answers with success), sees an
 * error for a valid request.
 *
 * Applied as: IOMMU_IOAS_UNMAP (iommufd_ioas_unmap) and the compat
 * VFIO_IOMMU_UNMAP_DMA with FLAG_ALL (iommufd_vfio_unmap_dma), each answering
 * ENOENT where the reference's unmap-all found no area.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation } from '../harness.ts';
import { ENOENT } from '../../../impl/lib/errno.ts';
import { VFIO_DMA_UNMAP_FLAG_ALL } from '../../../spec/uapi/constants.ts';
import { iommufdGetIoas, iommufdUcmdRespond, ULONG_MAX, type IommufdIoas } from '../../../impl/iommufd/iommufd_private.ts';
import { ioptUnmapAll } from '../../../impl/iommufd/io_pagetable.ts';
import { layoutOf, UcmdStruct } from '../../../impl/iommufd/ucmd.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('unmap-all-empty-enoent', profile, {
    handlers: {
      // iommufd_ioas_unmap
      IOMMU_IOAS_UNMAP: (ucmd, original) => {
        const { cmd, ctx } = ucmd;
        if (cmd.big('iova') !== 0n || cmd.big('length') !== ULONG_MAX) return original(ucmd);
        const r = iommufdGetIoas(ctx, cmd.num('ioas_id'));
        if (r.errno) return r.errno;
        const iopt = r.value!.iopt;
        // THE FAULT: iopt_unmap_iova_range's ENOENT (nothing unmapped) is not turned into 0.
        if (iopt.areas.length === 0) return -ENOENT;
        const unmapped = { bytes: 0n };
        const rc = ioptUnmapAll(iopt, unmapped);
        if (rc) return rc;
        cmd.set('length', unmapped.bytes);
        return iommufdUcmdRespond(ucmd);
      },
    },
    compat: {
      // iommufd_vfio_unmap_dma: rc = iopt_unmap_all(); unmap.size = unmapped; copy_to_user (EFAULT overrides rc).
      VFIO_IOMMU_UNMAP_DMA: (ctx, d, _arg, original) => {
        const unmap = new UcmdStruct(layoutOf(d.command.struct ?? '', ctx.profile), d.bytes);
        const flags = unmap.num('flags');
        const ioas = ctx.vfioIoas as IommufdIoas | null;
        const live = ioas !== null && ioas.type === 'IOAS' && ctx.objects.load(ioas.id) === ioas;
        const empty = live && flags === VFIO_DMA_UNMAP_FLAG_ALL && unmap.big('iova') === 0n && unmap.big('size') === 0n && ioas.iopt.areas.length === 0;
        const rc = original();
        return empty && rc === 0 ? -ENOENT : rc;
      },
    },
  });
}
