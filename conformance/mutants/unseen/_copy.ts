/**
 * Shared by the faults that change one step of IOMMU_IOAS_COPY: a copy of
 * iommufd_ioas_copy (ioas.c) whose argument checks (the EOVERFLOW test, the
 * READABLE|WRITEABLE test), page gathering (iopt_get_pages), the IOMMU prot
 * and mapping (iopt_map_pages) are parameters. With the reference's own it
 * answers exactly as the reference does.
 */
import { EINVAL, EOPNOTSUPP, EOVERFLOW } from '../../../impl/lib/errno.ts';
import { IOMMU_IOAS_MAP_FIXED_IOVA, IOMMU_IOAS_MAP_READABLE, IOMMU_IOAS_MAP_WRITEABLE } from '../../../spec/uapi/constants.ts';
import { flagMask } from '../../../spec/uapi/lookup.ts';
import { iommufdGetIoas, iommufdUcmdRespond, ULONG_MAX, type Ucmd } from '../../../impl/iommufd/iommufd_private.ts';
import { IOPT_ALLOC_IOVA, ioptFreePagesList, ioptGetPages, ioptMapPages } from '../../../impl/iommufd/io_pagetable.ts';
import { convIommuProt } from '../../../impl/iommufd/ioas.ts';
import { iommufdTestSyzConvIovaId } from '../../../impl/iommufd/selftest.ts';
import { Unwind } from '../../../impl/lib/unwind.ts';

const MAP_FLAGS = flagMask('6.12', 'iommufd_ioas_map_flags');

export interface CopySteps {
  readonly getPages?: typeof ioptGetPages;
  readonly mapPages?: typeof ioptMapPages;
  /** The id the destination IOAS is looked up by (the reference: dst_ioas_id). */
  readonly dstIoasId?: (cmd: Ucmd['cmd']) => number;
  /** The EOVERFLOW test (the reference: length, src_iova or dst_iova of ULONG_MAX or more). */
  readonly overflows?: (length: bigint, srcIova: bigint, dstIova: bigint) => boolean;
  /** Whether a copy with neither READABLE nor WRITEABLE is refused (EINVAL), as the reference's is. */
  readonly needsAccess?: boolean;
  /** The IOMMU prot the new area is mapped with (the reference: conv_iommu_prot of the flags). */
  readonly prot?: (flags: number) => number;
}

/** iommufd_ioas_copy with the given steps (the reference's where none is given). */
export function copyHandler({
  getPages = ioptGetPages,
  mapPages = ioptMapPages,
  dstIoasId = (cmd) => cmd.num('dst_ioas_id'),
  overflows = (length, src, dst) => length >= ULONG_MAX || src >= ULONG_MAX || dst >= ULONG_MAX,
  needsAccess = true,
  prot = convIommuProt,
}: CopySteps): (ucmd: Ucmd) => number {
  return (ucmd) => {
    const { cmd, ctx } = ucmd;
    iommufdTestSyzConvIovaId(ucmd, cmd.num('src_ioas_id'), 'src_iova');
    const flags = cmd.num('flags');
    if (flags & ~MAP_FLAGS) return -EOPNOTSUPP;
    const length = cmd.big('length');
    if (overflows(length, cmd.big('src_iova'), cmd.big('dst_iova'))) return -EOVERFLOW;
    if (needsAccess && !(flags & (IOMMU_IOAS_MAP_WRITEABLE | IOMMU_IOAS_MAP_READABLE))) return -EINVAL;
    const src = iommufdGetIoas(ctx, cmd.num('src_ioas_id'));
    if (src.errno) return src.errno;
    const list: Parameters<typeof ioptGetPages>[3] = [];
    let rc = getPages(src.value!.iopt, cmd.big('src_iova'), length, list);
    if (rc) return rc;
    const unwind = new Unwind();
    unwind.always('out_pages', () => ioptFreePagesList(list));
    const dst = iommufdGetIoas(ctx, dstIoasId(cmd));
    if (dst.errno) return unwind.exit(dst.errno);
    const iova = { iova: cmd.big('dst_iova') };
    rc = mapPages(dst.value!.iopt, list, length, iova, prot(flags), flags & IOMMU_IOAS_MAP_FIXED_IOVA ? 0 : IOPT_ALLOC_IOVA);
    if (rc) return unwind.exit(rc);
    cmd.set('dst_iova', iova.iova);
    return unwind.exit(iommufdUcmdRespond(ucmd));
  };
}
