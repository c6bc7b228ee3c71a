/**
 * syz-conv-layout-swapped (drivers/iommu/iommufd/selftest.c
 * __iommufd_test_syz_conv_iova, reached through iommufd_test_syz_conv_iova
 * (IOMMU_TEST_OP_ACCESS_PAGES / ACCESS_RW with MOCK_FLAGS_ACCESS_SYZ) and
 * iommufd_test_syz_conv_iova_id (IOMMU_IOAS_COPY's src_iova with the SYZ
 * flag); 6.12 and 7.3).
 *
 * syzkaller cannot know where an automatic IOVA landed, so with the SYZ flag
 * the u64 IOVA is an encoded pair { u32 nth_area; u32 offset; } (little
 * endian: nth in the low word, the byte offset in the high word) that the
 * kernel decodes to iopt_area_iova(nth area) + offset:
 *
 *     struct syz_layout {
 *             __u32 nth_area;
 *             __u32 offset;
 *     };
 *     struct syz_layout *syz = (void *)iova;
 *     unsigned int nth = syz->nth_area;
 *     ...
 *             if (nth == 0) {
 *                     up_read(&iopt->iova_rwsem);
 *                     return iopt_area_iova(area) + syz->offset;
 *             }
 *             nth--;
 *
 * THE FAULT: the layout struct is declared with its two members in the wrong
 * order,
 *
 *     struct syz_layout {
 *             __u32 offset;
 *             __u32 nth_area;
 *     };
 *
 * so the low word is taken as the byte offset and the high word as the area
 * index. An encoded IOVA of 0 (first area, offset 0) still decodes the same;
 * any other value names another area and/or another byte: ACCESS_RW with
 * SYZ reads or writes other bytes (or answers ENOENT where the area exists),
 * ACCESS_PAGES pins other pages (or refuses), IOAS_COPY copies from another
 * source range.
 *
 * Applied as: IOMMU_TEST_OP_ACCESS_PAGES and ACCESS_RW served by the shared
 * copies of their handlers with this decoder; IOMMU_IOAS_COPY with the SYZ
 * flag decodes src_iova with it (and clears the flag) before the reference's
 * own handler runs, as iommufd_test_syz_conv_iova_id does.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { IOMMU_TEST_OP_ACCESS_PAGES, IOMMU_TEST_OP_ACCESS_RW, MOCK_FLAGS_ACCESS_SYZ } from '../../../spec/uapi/constants.ts';
import { iommufdGetIoas, type IoPagetable } from '../../../impl/iommufd/iommufd_private.ts';
import type { IommufdAccess } from '../../../impl/iommufd/access.ts';
import { mutantImplementation } from '../harness.ts';
import { accessPagesHandler } from './_access_pages.ts';
import { accessRwHandler } from './_access_rw.ts';

/** __iommufd_test_syz_conv_iova with THE FAULT: low word = offset, high word = nth_area. */
function syzConvInIopt(iopt: IoPagetable, iova: bigint): bigint {
  const offset = BigInt.asUintN(32, iova);
  const nth = Number(BigInt.asUintN(32, iova >> 32n));
  const area = iopt.areas[nth];
  return area ? area.start + offset : 0n;
}

const syzConv = (access: IommufdAccess, iova: bigint): bigint => (access.ioas ? syzConvInIopt(access.ioas.iopt, iova) : 0n);

const accessPages = accessPagesHandler({ syzConv });
const accessRw = accessRwHandler({ syzConv });

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('syz-conv-layout-swapped', profile, {
    handlers: {
      IOMMU_TEST_CMD: (ucmd, original) => {
        const op = ucmd.cmd.num('op');
        if (op === IOMMU_TEST_OP_ACCESS_PAGES) return accessPages(ucmd);
        if (op === IOMMU_TEST_OP_ACCESS_RW) return accessRw(ucmd);
        return original(ucmd);
      },
      // iommufd_test_syz_conv_iova_id(ucmd, cmd->src_ioas_id, &cmd->src_iova, &cmd->flags)
      IOMMU_IOAS_COPY: (ucmd, original) => {
        const flags = ucmd.cmd.num('flags');
        if (flags & MOCK_FLAGS_ACCESS_SYZ) {
          ucmd.cmd.set('flags', flags & ~MOCK_FLAGS_ACCESS_SYZ);
          const r = iommufdGetIoas(ucmd.ctx, ucmd.cmd.num('src_ioas_id'));
          if (!r.errno) ucmd.cmd.set('src_iova', syzConvInIopt(r.value!.iopt, ucmd.cmd.big('src_iova')));
        }
        return original(ucmd);
      },
    },
  });
}
