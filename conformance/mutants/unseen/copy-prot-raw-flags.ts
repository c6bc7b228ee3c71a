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
 * Applied as: copyHandler (_copy.ts) whose iopt_map_pages gets the raw flags
 * as prot.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation } from '../harness.ts';
import { copyHandler } from './_copy.ts';

/** iommufd_ioas_copy with the uAPI flags handed to iopt_map_pages as the IOMMU prot. THE FAULT: cmd->flags where conv_iommu_prot(cmd->flags) belongs. */
const ioasCopy = copyHandler({ prot: (flags) => flags });

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('copy-prot-raw-flags', profile, {
    handlers: { IOMMU_IOAS_COPY: ioasCopy },
  });
}
