/**
 * M1 (VFIO type1 compat, v1 vs v2): iommufd_vfio_unmap_dma cuts the areas at
 * the ends of the requested range (iopt_cut_iova) whatever the container
 * type — the `if (READ_ONCE(ioas->iopt.disable_large_pages))` guard that
 * keeps the type1 v1 splitting emulation to VFIO_TYPE1_IOMMU is missing.
 *
 * Consequence: under TYPE1v2 (or with no SET_IOMMU at all) a partial
 * UNMAP_DMA of a mapping splits it and succeeds where v2 must refuse
 * (iopt_unmap_iova: ENOENT for a range that cuts an area); with a domain
 * filled and large pages enabled the split itself answers EINVAL.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { VFIO_DMA_UNMAP_FLAG_ALL } from '../../../spec/uapi/constants.ts';
import { iommufdVfioCompatIoasGetId } from '../../../impl/iommufd/vfio_compat.ts';
import { ioptCutIova } from '../../../impl/iommufd/io_pagetable.ts';
import { layoutOf, UcmdStruct } from '../../../impl/iommufd/ucmd.ts';
import type { IommufdIoas } from '../../../impl/iommufd/iommufd_private.ts';
import { mutantImplementation } from '../harness.ts';

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('compat-unmap-cuts-in-v2', profile, {
    compat: {
      VFIO_IOMMU_UNMAP_DMA: (ctx, d, _arg, original) => {
        const s = new UcmdStruct(layoutOf(d.command.struct ?? '', ctx.profile), d.bytes);
        const flags = s.num('flags');
        const id = iommufdVfioCompatIoasGetId(ctx);
        if (flags & ~VFIO_DMA_UNMAP_FLAG_ALL || flags & VFIO_DMA_UNMAP_FLAG_ALL || id.errno) return original();
        const ioas = ctx.objects.load(id.value!) as IommufdIoas;
        if (ioas.iopt.disableLargePages) return original();
        // the fault: the v1 cut is made for v2 too
        const iova = s.big('iova');
        const size = s.big('size');
        const iovas = [BigInt.asUintN(64, iova + size - 1n), BigInt.asUintN(64, iova - 1n)];
        const rc = ioptCutIova(ioas.iopt, iova ? iovas : iovas.slice(0, 1));
        return rc || original();
      },
    },
  });
}
