/**
 * copy-prot-raw-flags (drivers/iommu/iommufd/ioas.c iommufd_ioas_copy;
 * 6.12 and 7.3).
 *
 * IOMMU_IOAS_COPY maps the source's pages again at the destination with the
 * permissions of the command's own flags, converted from the uAPI's
 * IOMMU_IOAS_MAP_* bits to the IOMMU_* prot bits the page tables take, as
 * IOMMU_IOAS_MAP does:
 *
 *     if (!(cmd->flags & IOMMU_IOAS_MAP_FIXED_IOVA))
 *             flags = IOPT_ALLOC_IOVA;
 *     iova = cmd->dst_iova;
 *     rc = iopt_map_pages(&dst_ioas->iopt, &pages_list, cmd->length, &iova,
 *                         conv_iommu_prot(cmd->flags), flags);
 *
 * THE FAULT passes the uAPI flags themselves:
 *
 *     rc = iopt_map_pages(&dst_ioas->iopt, &pages_list, cmd->length, &iova,
 *                         cmd->flags, flags);
 *
 * Both are ints, so nothing complains, and the numbers line up just enough
 * to look right in a quick test: IOMMU_IOAS_MAP_WRITEABLE (1 << 1) is
 * IOMMU_WRITE, but IOMMU_IOAS_MAP_FIXED_IOVA (1 << 0) is IOMMU_READ and
 * IOMMU_IOAS_MAP_READABLE (1 << 2) is IOMMU_CACHE. A fixed-IOVA
 * read/write copy — the selftests' case — comes out exactly right. The
 * others do not, and the area keeps its wrong prot for its whole life, in
 * every domain the destination has and every domain that joins it later:
 * a fixed-IOVA write-only copy becomes readable by the device (and is mapped
 * without IOMMU_CACHE: non-snooped where the domain does not force
 * snooping); an automatic-IOVA copy loses IOMMU_READ (a read/write copy is
 * write-only, a read-only copy maps nothing the device may use); a copy
 * without READABLE loses IOMMU_CACHE. The copy's checks (EPERM for
 * WRITEABLE over read-only pages, in iopt_insert_area) still see the right
 * write bit, so the command answers as before.
 *
 * Applied as: IOMMU_IOAS_COPY runs a copy of iommufd_ioas_copy (as
 * _copy.ts has it) whose iopt_map_pages gets the raw flags as prot.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation } from '../harness.ts';
import { EINVAL, EOPNOTSUPP, EOVERFLOW } from '../../../impl/lib/errno.ts';
import { IOMMU_IOAS_MAP_FIXED_IOVA, IOMMU_IOAS_MAP_READABLE, IOMMU_IOAS_MAP_WRITEABLE } from '../../../spec/uapi/constants.ts';
import { flagMask } from '../../../spec/uapi/lookup.ts';
import { iommufdGetIoas, iommufdUcmdRespond, ULONG_MAX, type PagesListElm, type Ucmd } from '../../../impl/iommufd/iommufd_private.ts';
import { IOPT_ALLOC_IOVA, ioptFreePagesList, ioptGetPages, ioptMapPages } from '../../../impl/iommufd/io_pagetable.ts';
import { iommufdTestSyzConvIovaId } from '../../../impl/iommufd/selftest.ts';
import { Unwind } from '../../../impl/lib/unwind.ts';

const MAP_FLAGS = flagMask('6.12', 'iommufd_ioas_map_flags');

/** iommufd_ioas_copy with the uAPI flags handed to iopt_map_pages as the IOMMU prot. */
function ioasCopy(ucmd: Ucmd): number {
  const { cmd, ctx } = ucmd;
  iommufdTestSyzConvIovaId(ucmd, cmd.num('src_ioas_id'), 'src_iova');
  const flags = cmd.num('flags');
  if (flags & ~MAP_FLAGS) return -EOPNOTSUPP;
  const length = cmd.big('length');
  if (length >= ULONG_MAX || cmd.big('src_iova') >= ULONG_MAX || cmd.big('dst_iova') >= ULONG_MAX) return -EOVERFLOW;
  if (!(flags & (IOMMU_IOAS_MAP_WRITEABLE | IOMMU_IOAS_MAP_READABLE))) return -EINVAL;
  const src = iommufdGetIoas(ctx, cmd.num('src_ioas_id'));
  if (src.errno) return src.errno;
  const list: PagesListElm[] = [];
  let rc = ioptGetPages(src.value!.iopt, cmd.big('src_iova'), length, list);
  if (rc) return rc;
  const unwind = new Unwind();
  unwind.always('out_pages', () => ioptFreePagesList(list));
  const dst = iommufdGetIoas(ctx, cmd.num('dst_ioas_id'));
  if (dst.errno) return unwind.exit(dst.errno);
  const iova = { iova: cmd.big('dst_iova') };
  // THE FAULT: cmd->flags where conv_iommu_prot(cmd->flags) belongs.
  rc = ioptMapPages(dst.value!.iopt, list, length, iova, flags, flags & IOMMU_IOAS_MAP_FIXED_IOVA ? 0 : IOPT_ALLOC_IOVA);
  if (rc) return unwind.exit(rc);
  cmd.set('dst_iova', iova.iova);
  return unwind.exit(iommufdUcmdRespond(ucmd));
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('copy-prot-raw-flags', profile, {
    handlers: { IOMMU_IOAS_COPY: ioasCopy },
  });
}
