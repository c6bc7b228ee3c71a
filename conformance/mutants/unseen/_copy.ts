/**
 * Shared by the faults that change one step of IOMMU_IOAS_COPY: a copy of
 * iommufd_ioas_copy (ioas.c) whose argument checks (the EOVERFLOW test, the
 * READABLE|WRITEABLE test), page gathering (iopt_get_pages), the IOMMU prot
 * and mapping (iopt_map_pages) are parameters. With the reference's own it
 * answers exactly as the reference does.
 */
import { EINVAL, ENOENT, ENOMEM, EOPNOTSUPP, EOVERFLOW } from '../../../impl/lib/errno.ts';
import { IOMMU_IOAS_MAP_FIXED_IOVA, IOMMU_IOAS_MAP_READABLE, IOMMU_IOAS_MAP_WRITEABLE } from '../../../spec/uapi/constants.ts';
import { flagMask } from '../../../spec/uapi/lookup.ts';
import { iommufdGetIoas, iommufdUcmdRespond, ULONG_MAX, type IoptArea, type Ucmd } from '../../../impl/iommufd/iommufd_private.ts';
import { IOPT_ALLOC_IOVA, ioptAreaContig, ioptAreaStartByte, ioptFreePagesList, ioptGetPages, ioptMapPages } from '../../../impl/iommufd/io_pagetable.ts';
import { ioptGetPagesRef } from '../../../impl/iommufd/pages.ts';
import { convIommuProt } from '../../../impl/iommufd/ioas.ts';
import { iommufdTestSyzConvIovaId } from '../../../impl/iommufd/selftest.ts';
import { Unwind } from '../../../impl/lib/unwind.ts';

const MAP_FLAGS = flagMask('6.12', 'iommufd_ioas_map_flags');
const U64_WRAP = 1n << 64n;

/** The steps of iopt_get_pages a fault may change; each one not given is the kernel's. */
export interface GetPagesSteps {
  /** `if (!length) return -EINVAL;` first (without it, length - 1 wraps as the unsigned it is). */
  readonly checksZeroLength?: boolean;
  /** elm->start_byte: where in its pages the piece starts (the kernel: iopt_area_start_byte(area, iter.cur_iova)). */
  readonly startByte?: (area: IoptArea, cur: bigint) => bigint;
  /** The piece's last IOVA (the kernel: min(last_iova, iopt_area_last_iova(area))). */
  readonly pieceLast?: (area: IoptArea, last: bigint) => bigint;
}

/** A copy of iopt_get_pages (io_pagetable.c) over the given steps. */
export function getPagesWith({ checksZeroLength = true, startByte = ioptAreaStartByte, pieceLast = (area, last) => (last < area.last ? last : area.last) }: GetPagesSteps): typeof ioptGetPages {
  return (iopt, iova, length, list) => {
    if (checksZeroLength && !length) return -EINVAL;
    const last = iova + ((length - 1n + U64_WRAP) % U64_WRAP);
    if (last > ULONG_MAX) return -EOVERFLOW;
    const { pieces, done } = ioptAreaContig(iopt, iova, last);
    const unwind = new Unwind();
    unwind.onError('err_free', () => ioptFreePagesList(list));
    for (const { area, cur } of pieces) {
      if (iopt.faults.shouldFail()) return unwind.exit(-ENOMEM); // kzalloc(elm)
      ioptGetPagesRef(area.pages!);
      list.push({ pages: area.pages, area: null, startByte: startByte(area, cur), length: pieceLast(area, last) - cur + 1n });
    }
    return unwind.exit(done ? 0 : -ENOENT);
  };
}

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
