/**
 * copy-dst-iova-overflow-unchecked (drivers/iommu/iommufd/ioas.c
 * iommufd_ioas_copy, IOMMU_IOAS_COPY; 6.12 and 7.3 alike).
 *
 * The kernel:
 *
 *     if (cmd->length >= ULONG_MAX || cmd->src_iova >= ULONG_MAX ||
 *         cmd->dst_iova >= ULONG_MAX)
 *             return -EOVERFLOW;
 *
 * The fault drops the `cmd->dst_iova >= ULONG_MAX` term (dst_iova "is only an
 * output without IOMMU_IOAS_MAP_FIXED_IOVA"), so the u64 input is no longer
 * validated before anything else runs.
 *
 * What a user sees: an IOMMU_IOAS_COPY without IOMMU_IOAS_MAP_FIXED_IOVA whose
 * dst_iova is U64_MAX succeeds, allocating an IOVA and writing it back, where
 * the kernel refuses it with -EOVERFLOW (and copies nothing); with a fixed
 * dst_iova of U64_MAX the error becomes iopt_check_iova's (-EINVAL when the
 * IOAS has an alignment above 1, else -EOVERFLOW), and the ordering against
 * the later checks changes (e.g. missing READ/WRITE flags give -EINVAL, a bad
 * source range -ENOENT, instead of -EOVERFLOW).
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { EINVAL, EOPNOTSUPP, EOVERFLOW } from '../../../impl/lib/errno.ts';
import { IOMMU_IOAS_MAP_FIXED_IOVA, IOMMU_IOAS_MAP_READABLE, IOMMU_IOAS_MAP_WRITEABLE } from '../../../spec/uapi/constants.ts';
import { flagMask } from '../../../spec/uapi/lookup.ts';
import { iommufdGetIoas, iommufdUcmdRespond, ULONG_MAX, type PagesListElm, type Ucmd } from '../../../impl/iommufd/iommufd_private.ts';
import { IOPT_ALLOC_IOVA, ioptFreePagesList, ioptGetPages, ioptMapPages } from '../../../impl/iommufd/io_pagetable.ts';
import { convIommuProt } from '../../../impl/iommufd/ioas.ts';
import { iommufdTestSyzConvIovaId } from '../../../impl/iommufd/selftest.ts';
import { Unwind } from '../../../impl/lib/unwind.ts';
import { mutantImplementation } from '../harness.ts';

const MAP_FLAGS = flagMask('6.12', 'iommufd_ioas_map_flags');

/** iommufd_ioas_copy without the dst_iova bound. */
function ioasCopy(ucmd: Ucmd): number {
  const { cmd, ctx } = ucmd;
  iommufdTestSyzConvIovaId(ucmd, cmd.num('src_ioas_id'), 'src_iova');
  const flags = cmd.num('flags');
  if (flags & ~MAP_FLAGS) return -EOPNOTSUPP;
  const length = cmd.big('length');
  // THE FAULT: `|| cmd->dst_iova >= ULONG_MAX` dropped.
  if (length >= ULONG_MAX || cmd.big('src_iova') >= ULONG_MAX) return -EOVERFLOW;
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
  rc = ioptMapPages(dst.value!.iopt, list, length, iova, convIommuProt(flags), flags & IOMMU_IOAS_MAP_FIXED_IOVA ? 0 : IOPT_ALLOC_IOVA);
  if (rc) return unwind.exit(rc);
  cmd.set('dst_iova', iova.iova);
  return unwind.exit(iommufdUcmdRespond(ucmd));
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('copy-dst-iova-overflow-unchecked', profile, {
    handlers: { IOMMU_IOAS_COPY: (ucmd) => ioasCopy(ucmd) },
  });
}
