/**
 * syz-conv-nth-predecrement (__iommufd_test_syz_conv_iova,
 * drivers/iommu/iommufd/selftest.c; reached with MOCK_FLAGS_ACCESS_SYZ by
 * IOMMU_TEST_OP_ACCESS_PAGES and IOMMU_TEST_OP_ACCESS_RW through
 * iommufd_test_syz_conv_iova, and by IOMMU_IOAS_COPY through
 * iommufd_test_syz_conv_iova_id; 6.12 and 7.3).
 *
 * The kernel's code (6.12 and 7.3 alike):
 *
 *     struct syz_layout *syz = (void *)iova;
 *     unsigned int nth = syz->nth_area;
 *     struct iopt_area *area;
 *
 *     down_read(&iopt->iova_rwsem);
 *     for (area = iopt_area_iter_first(iopt, 0, ULONG_MAX); area;
 *          area = iopt_area_iter_next(area, 0, ULONG_MAX)) {
 *             if (nth == 0) {
 *                     up_read(&iopt->iova_rwsem);
 *                     return iopt_area_iova(area) + syz->offset;
 *             }
 *             nth--;
 *     }
 *     up_read(&iopt->iova_rwsem);
 *
 *     return 0;
 *
 * nth_area 0 is the lowest area of the IOAS, 1 the next one, and so on; an
 * nth past the last area decodes to IOVA 0.
 *
 * The fault: the test and the decrement are folded into one
 * `if (!--nth)` (a pre-decrement where the original tests first), so the
 * areas are counted from 1: nth_area k decodes into area k-1, and
 * nth_area 0 (u32 wrap to 0xffffffff) never matches and decodes to 0. An
 * ACCESS_PAGES / ACCESS_RW naming area 1 pins, reads or writes area 0's
 * pages instead (another mapping, possibly of other user memory, through
 * the access); one naming area 0 — syzkaller's most common value — lands
 * on IOVA 0 + offset, which is normally unmapped (ENOENT), or another area
 * that happens to sit there. An IOAS_COPY with the flag copies the wrong
 * source area into the destination IOAS (a device attached there then
 * reaches memory the program did not name) and copies the wrong src_iova
 * back to the caller.
 *
 * Applied as: IOMMU_IOAS_COPY runs iommufd_test_syz_conv_iova_id with the
 * faulty decoding (the flag cleared and src_iova rewritten in the command,
 * as the kernel does) before the reference's iommufd_ioas_copy (which then
 * sees no flag); IOMMU_TEST_OP_ACCESS_PAGES and IOMMU_TEST_OP_ACCESS_RW with
 * MOCK_FLAGS_ACCESS_SYZ run the shared copies of iommufd_test_access_pages /
 * iommufd_test_access_rw (_access_pages.ts, _access_rw.ts) with the faulty
 * decoding;
 * everything else is the reference's.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { IOMMU_TEST_OP_ACCESS_PAGES, IOMMU_TEST_OP_ACCESS_RW, MOCK_FLAGS_ACCESS_SYZ } from '../../../spec/uapi/constants.ts';
import { iommufdGetIoas, type IoPagetable, type Ucmd } from '../../../impl/iommufd/iommufd_private.ts';
import { iommufdAccessPinPages, type IommufdAccess } from '../../../impl/iommufd/access.ts';
import { mutantImplementation } from '../harness.ts';
import { accessPagesHandler } from './_access_pages.ts';
import { accessRwHandler } from './_access_rw.ts';


/** __iommufd_test_syz_conv_iova with THE FAULT: `if (!--nth)`, the areas counted from 1. */
function syzConvInIopt(iopt: IoPagetable, iova: bigint): bigint {
  let nth = Number(BigInt.asUintN(32, iova));
  const offset = BigInt.asUintN(32, iova >> 32n);
  for (const area of iopt.areas) {
    nth = (nth - 1) >>> 0;
    if (nth === 0) return area.start + offset;
  }
  return 0n;
}

/** iommufd_test_syz_conv_iova: against the access's IOAS, 0 when it has none. */
function syzConvIova(access: IommufdAccess, iova: bigint): bigint {
  return access.ioas ? syzConvInIopt(access.ioas.iopt, iova) : 0n;
}

/** iommufd_test_syz_conv_iova_id (IOAS_COPY): clear the flag; if src is an IOAS, decode src_iova in place. */
function syzConvIovaId(ucmd: Ucmd, ioasId: number, field: string): void {
  const flags = ucmd.cmd.num('flags');
  if (!(flags & MOCK_FLAGS_ACCESS_SYZ)) return;
  ucmd.cmd.set('flags', flags & ~MOCK_FLAGS_ACCESS_SYZ);
  const r = iommufdGetIoas(ucmd.ctx, ioasId);
  if (r.errno) return;
  ucmd.cmd.set(field, syzConvInIopt(r.value!.iopt, ucmd.cmd.big(field)));
}

const testAccessPages = accessPagesHandler({ pinPages: iommufdAccessPinPages, syzConv: syzConvIova });
const testAccessRw = accessRwHandler({ syzConv: syzConvIova });

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('syz-conv-nth-predecrement', profile, {
    handlers: {
      IOMMU_IOAS_COPY: (ucmd, original) => {
        syzConvIovaId(ucmd, ucmd.cmd.num('src_ioas_id'), 'src_iova');
        return original(ucmd);
      },
      IOMMU_TEST_CMD: (ucmd, original) => {
        switch (ucmd.cmd.num('op')) {
          case IOMMU_TEST_OP_ACCESS_PAGES:
            return testAccessPages(ucmd);
          case IOMMU_TEST_OP_ACCESS_RW:
            return testAccessRw(ucmd);
          default:
            return original(ucmd);
        }
      },
    },
  });
}
