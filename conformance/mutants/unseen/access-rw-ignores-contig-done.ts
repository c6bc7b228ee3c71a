/**
 * C8.8 — access-rw-ignores-contig-done (drivers/iommu/iommufd/device.c
 * iommufd_access_rw).
 *
 * iommufd_access_rw walks the areas covering [iova, iova + length - 1] with
 * iopt_for_each_contig_area and copies piece by piece; a range the IOAS does
 * not map from end to end must fail:
 *     if (!iopt_area_contig_done(&iter))
 *             rc = -ENOENT;
 * The fault loses that test (rc stays 0 from the last piece, or from its
 * initialisation when no area covers iova at all). An emulated device's
 * write into IOVA the IOAS does not map — past the end of an area, into a
 * hole, or after the area was unmapped — is reported done although the bytes
 * past the mapped prefix went nowhere; a read of such a range succeeds and
 * hands the driver (and, through the selftest, the user) a buffer whose
 * unmapped part was never read from guest memory. The driver cannot tell a
 * DMA that reached memory from one that reached nothing.
 *
 * Applied as: IOMMU_TEST_OP_ACCESS_RW runs the reference's
 * iommufd_test_access_rw over an iommufd_access_rw without the final test.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { EBADFD, EFAULT, EINVAL, ENOENT, ENOMEM, EOPNOTSUPP, EOVERFLOW, EPERM } from '../../../impl/lib/errno.ts';
import { IOMMU_TEST_OP_ACCESS_RW, MOCK_ACCESS_RW_SLOW_PATH, MOCK_ACCESS_RW_WRITE, MOCK_FLAGS_ACCESS_SYZ } from '../../../spec/uapi/constants.ts';
import { ULONG_MAX, type Ucmd } from '../../../impl/iommufd/iommufd_private.ts';
import { IOMMU_READ, IOMMU_WRITE, ioptAreaContig, ioptAreaStartByte } from '../../../impl/iommufd/io_pagetable.ts';
import { ioptPagesRwAccess } from '../../../impl/iommufd/pages.ts';
import { syzConvIova } from '../../../impl/iommufd/selftest.ts';
import type { IommufdAccess } from '../../../impl/iommufd/access.ts';
import { Unwind } from '../../../impl/lib/unwind.ts';
import { mutantImplementation } from '../harness.ts';

const SZ_16M = 16 * 1024 * 1024;

/** iommufd_access_rw without iopt_area_contig_done. */
function accessRw(access: IommufdAccess, iova: bigint, data: Uint8Array, write: boolean, slowPath: boolean): number {
  if (!data.length) return -EINVAL;
  const last = iova + BigInt(data.length) - 1n;
  if (last > ULONG_MAX) return -EOVERFLOW;
  const ioas = access.ioas;
  if (!ioas) return -ENOENT;
  const { pieces } = ioptAreaContig(ioas.iopt, iova, last);
  let off = 0;
  for (const { area, cur } of pieces) {
    const pieceLast = last < area.last ? last : area.last;
    const bytes = Number(pieceLast - cur + 1n);
    if (area.preventAccess) return -EINVAL;
    if (!(write ? area.iommuProt & IOMMU_WRITE : area.iommuProt & IOMMU_READ)) return -EPERM;
    const rc = ioptPagesRwAccess(area.pages!, Number(ioptAreaStartByte(area, cur)), data.subarray(off, off + bytes), write, slowPath);
    if (rc) return rc;
    off += bytes;
  }
  return 0; // THE FAULT: no `if (!iopt_area_contig_done(&iter)) rc = -ENOENT;`
}

/** iommufd_test_access_rw over the faulty iommufd_access_rw. */
function testAccessRw(ucmd: Ucmd): number {
  const { cmd, ctx } = ucmd;
  let iova = cmd.big('access_rw.iova');
  const length = cmd.big('access_rw.length');
  const ubuf = cmd.big('access_rw.uptr');
  const flags = cmd.num('access_rw.flags');
  if (length > BigInt(SZ_16M)) return -ENOMEM;
  if (flags & ~(MOCK_ACCESS_RW_WRITE | MOCK_ACCESS_RW_SLOW_PATH | MOCK_FLAGS_ACCESS_SYZ)) return -EOPNOTSUPP;
  const file = ctx.proc.fds.fget(cmd.num('id'));
  if (!file) return -EBADFD;
  const unwind = new Unwind();
  unwind.always('out_put', () => file.put());
  const staccess = file.private_data as { access?: IommufdAccess | null } | null;
  if (file.kind !== 'selftest-access' || !staccess?.access) return unwind.exit(-EBADFD);
  const access = staccess.access;
  if (ctx.faults.shouldFail()) return unwind.exit(-ENOMEM); // kvzalloc(tmp)
  let tmp: Uint8Array = new Uint8Array(Number(length));
  const write = (flags & MOCK_ACCESS_RW_WRITE) !== 0;
  if (write) {
    const b = ctx.proc.copyFromUser(ubuf, Number(length));
    if (!b) return unwind.exit(-EFAULT);
    tmp = b;
  }
  if (flags & MOCK_FLAGS_ACCESS_SYZ) iova = syzConvIova(access, iova);
  const rc = accessRw(access, iova, tmp, write, (flags & MOCK_ACCESS_RW_SLOW_PATH) !== 0);
  if (rc) return unwind.exit(rc);
  if (!write && !ctx.proc.copyToUser(ubuf, tmp)) return unwind.exit(-EFAULT);
  return unwind.exit(0);
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('access-rw-ignores-contig-done', profile, {
    handlers: {
      IOMMU_TEST_CMD: (ucmd, original) => (ucmd.cmd.num('op') === IOMMU_TEST_OP_ACCESS_RW ? testAccessRw(ucmd) : original(ucmd)),
    },
  });
}
