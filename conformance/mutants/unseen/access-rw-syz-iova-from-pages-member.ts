/**
 * access-rw-syz-iova-from-pages-member (iommufd_test_access_rw,
 * drivers/iommu/iommufd/selftest.c; reached by IOMMU_TEST_OP_ACCESS_RW with
 * MOCK_FLAGS_ACCESS_SYZ; 6.12 and 7.3).
 *
 * The kernel's code (6.12 and 7.3 alike):
 *
 *     if (flags & MOCK_FLAGS_ACCESS_SYZ)
 *             iova = iommufd_test_syz_conv_iova(staccess->access,
 *                             &cmd->access_rw.iova);
 *
 *     rc = iommufd_access_rw(staccess->access, iova, tmp, length, flags);
 *
 * With the syzkaller flag the 64-bit IOVA is read as { u32 nth_area;
 * u32 offset } and becomes the start of the nth area of the access's IOAS
 * plus the offset.
 *
 * The fault: the block is pasted from iommufd_test_access_pages, a few lines
 * above, with its union member left in place:
 *
 *     if (flags & MOCK_FLAGS_ACCESS_SYZ)
 *             iova = iommufd_test_syz_conv_iova(staccess->access,
 *                             &cmd->access_pages.iova);
 *
 * It compiles (both are __aligned_u64 in the same union), but access_pages
 * starts with two u32s (flags, out_access_pages_id), so access_pages.iova
 * sits at union offset 8: it is access_rw.length. The IOVA the caller
 * encoded is ignored; the length is decoded instead (nth_area = low 32 bits
 * of the length, offset = high 32 bits).
 *
 * Observable: a syzkaller-encoded ACCESS_RW of `length` bytes reads or
 * writes the start of area number `length` instead of the encoded area and
 * offset — the CPU access reaches other mapped memory than the caller named
 * (a write lands in another area's pages; a read returns its bytes), or
 * fails ENOENT (no such area: the IOVA becomes 0) where the kernel succeeds.
 * Accesses without the flag are untouched.
 *
 * Applied as: for IOMMU_TEST_OP_ACCESS_RW with MOCK_FLAGS_ACCESS_SYZ, the
 * kernel struct's access_rw.iova is overwritten with what
 * cmd->access_pages.iova reads before the reference's handler decodes it;
 * nothing of access_rw is copied back, so the caller sees only the access.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { IOMMU_TEST_OP_ACCESS_RW, MOCK_FLAGS_ACCESS_SYZ } from '../../../spec/uapi/constants.ts';
import type { IoctlExecute, Ucmd } from '../../../impl/iommufd/iommufd_private.ts';
import { mutantImplementation } from '../harness.ts';

/** iommufd_test_access_rw with THE FAULT: the syzkaller IOVA is decoded from &cmd->access_pages.iova. */
function testAccessRw(ucmd: Ucmd, original: IoctlExecute): number {
  const { cmd } = ucmd;
  if (cmd.num('access_rw.flags') & MOCK_FLAGS_ACCESS_SYZ) cmd.set('access_rw.iova', cmd.big('access_pages.iova'));
  return original(ucmd);
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('access-rw-syz-iova-from-pages-member', profile, {
    handlers: {
      IOMMU_TEST_CMD: (ucmd, original) => (ucmd.cmd.num('op') === IOMMU_TEST_OP_ACCESS_RW ? testAccessRw(ucmd, original) : original(ucmd)),
    },
  });
}
