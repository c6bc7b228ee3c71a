/**
 * Shared by the faults that change how IOMMU_IOAS_MAP places its area: a copy
 * of iommufd_ioas_map (ioas.c) → iopt_map_user_pages (io_pagetable.c) whose
 * iopt_map_pages is a parameter. With the reference's own it answers exactly
 * as the reference does.
 */
import { EINVAL, EOPNOTSUPP, EOVERFLOW } from '../../../impl/lib/errno.ts';
import { IOMMU_IOAS_MAP_FIXED_IOVA, IOMMU_IOAS_MAP_READABLE, IOMMU_IOAS_MAP_WRITEABLE } from '../../../spec/uapi/constants.ts';
import { flagMask } from '../../../spec/uapi/lookup.ts';
import { iommufdGetIoas, iommufdUcmdRespond, ULONG_MAX, type PagesListElm, type Ucmd } from '../../../impl/iommufd/iommufd_private.ts';
import { IOPT_ALLOC_IOVA, ioptFreePagesList, ioptMapPages } from '../../../impl/iommufd/io_pagetable.ts';
import { ioptAllocPages } from '../../../impl/iommufd/pages.ts';
import { convIommuProt } from '../../../impl/iommufd/ioas.ts';
import { IOMMU_WRITE } from '../../../impl/pagetable/format.ts';
import { Unwind } from '../../../impl/lib/unwind.ts';

const MAP_FLAGS = flagMask('6.12', 'iommufd_ioas_map_flags');

/** iommufd_ioas_map over the given iopt_map_pages (the reference's where none is given). */
export function ioasMapHandler({ mapPages = ioptMapPages }: { readonly mapPages?: typeof ioptMapPages }): (ucmd: Ucmd) => number {
  return (ucmd) => {
    const { cmd, ctx } = ucmd;
    const flags = cmd.num('flags');
    if (flags & ~MAP_FLAGS || cmd.num('__reserved')) return -EOPNOTSUPP;
    if (cmd.big('iova') >= ULONG_MAX || cmd.big('length') >= ULONG_MAX) return -EOVERFLOW;
    if (!(flags & (IOMMU_IOAS_MAP_WRITEABLE | IOMMU_IOAS_MAP_READABLE))) return -EINVAL;
    const ioas = iommufdGetIoas(ctx, cmd.num('ioas_id'));
    if (ioas.errno) return ioas.errno;
    const prot = convIommuProt(flags);
    const uptr = cmd.big('user_va');
    const length = cmd.big('length');
    const pr = ioptAllocPages(ctx.proc, uptr, length, (prot & IOMMU_WRITE) !== 0, ctx.profile);
    if (pr.errno) return pr.errno;
    const pages = pr.value!;
    if (ctx.accountMode === 'MM' && pages.accountMode === 'USER') pages.accountMode = 'MM';
    const list: PagesListElm[] = [{ pages, area: null, startByte: uptr - pages.uptr, length }];
    const unwind = new Unwind();
    unwind.onError('out_unpin', () => ioptFreePagesList(list));
    const dst = { iova: cmd.big('iova') };
    const rc = mapPages(ioas.value!.iopt, list, length, dst, prot, flags & IOMMU_IOAS_MAP_FIXED_IOVA ? 0 : IOPT_ALLOC_IOVA);
    if (rc) return unwind.exit(rc);
    unwind.exit(0);
    cmd.set('iova', dst.iova);
    return iommufdUcmdRespond(ucmd);
  };
}
