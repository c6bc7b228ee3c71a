/**
 * map-no-rw-accepted (drivers/iommu/iommufd/ioas.c iommufd_ioas_map and
 * iommufd_ioas_copy).
 *
 * Both ioctls refuse a mapping that grants the device neither read nor write
 * access:
 *     if (!(cmd->flags &
 *           (IOMMU_IOAS_MAP_WRITEABLE | IOMMU_IOAS_MAP_READABLE)))
 *             return -EINVAL;
 * (added upstream by commit 996dc53ac289 "iommufd: Do not allow creating
 * areas without READ or WRITE", after syzkaller hit it). The fault is the
 * code before that fix: the two checks are missing, so IOMMU_IOAS_MAP and
 * IOMMU_IOAS_COPY with flags 0 or IOMMU_IOAS_MAP_FIXED_IOVA alone go on
 * with iommu_prot = IOMMU_CACHE.
 *
 * Consequence for a user: a mapping nothing can use is accepted as a
 * success: it occupies IOVA space (later maps there fail with EEXIST and
 * automatic allocation skips it), its user pages are pinned and charged to
 * RLIMIT_MEMLOCK while the IOAS has a domain, and it is handed to the IOMMU
 * drivers with no permission at all — which some page tables turn into a
 * silent no-op (io-pgtable-arm returned 0 from map_pages without mapping
 * anything, so iommufd believed the range mapped and WARNed on unmap) and
 * others into a present-but-inaccessible entry. A bad argument is accepted
 * instead of EINVAL.
 *
 * Applied as: IOMMU_IOAS_MAP and IOMMU_IOAS_COPY are served by copies of the
 * reference's handlers without the permission check.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation } from '../harness.ts';
import { EOPNOTSUPP, EOVERFLOW } from '../../../impl/lib/errno.ts';
import { IOMMU_IOAS_MAP_FIXED_IOVA } from '../../../spec/uapi/constants.ts';
import { flagMask } from '../../../spec/uapi/lookup.ts';
import { iommufdGetIoas, iommufdUcmdRespond, ULONG_MAX, type Ucmd } from '../../../impl/iommufd/iommufd_private.ts';
import { IOPT_ALLOC_IOVA, ioptMapUserPages } from '../../../impl/iommufd/io_pagetable.ts';
import { convIommuProt } from '../../../impl/iommufd/ioas.ts';
import { copyHandler } from './_copy.ts';

const MAP_FLAGS = flagMask('6.12', 'iommufd_ioas_map_flags');

/** iommufd_ioas_map without the READABLE|WRITEABLE check. */
function ioasMap(ucmd: Ucmd): number {
  const { cmd, ctx } = ucmd;
  const flags = cmd.num('flags');
  if (flags & ~MAP_FLAGS || cmd.num('__reserved')) return -EOPNOTSUPP;
  if (cmd.big('iova') >= ULONG_MAX || cmd.big('length') >= ULONG_MAX) return -EOVERFLOW;
  // THE FAULT: no `if (!(flags & (WRITEABLE | READABLE))) return -EINVAL;`
  const r = iommufdGetIoas(ctx, cmd.num('ioas_id'));
  if (r.errno) return r.errno;
  const m = ioptMapUserPages(
    r.value!.iopt,
    ctx.proc,
    ctx.accountMode === 'MM',
    cmd.big('iova'),
    cmd.big('user_va'),
    cmd.big('length'),
    convIommuProt(flags),
    flags & IOMMU_IOAS_MAP_FIXED_IOVA ? 0 : IOPT_ALLOC_IOVA,
    ctx.profile,
  );
  if (m.errno) return m.errno;
  cmd.set('iova', m.value!);
  return iommufdUcmdRespond(ucmd);
}

/** iommufd_ioas_copy without the READABLE|WRITEABLE check. THE FAULT: no `if (!(flags & (WRITEABLE | READABLE))) return -EINVAL;` */
const ioasCopy = copyHandler({ needsAccess: false });

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('map-no-rw-accepted', profile, {
    handlers: { IOMMU_IOAS_MAP: (ucmd) => ioasMap(ucmd), IOMMU_IOAS_COPY: (ucmd) => ioasCopy(ucmd) },
  });
}
