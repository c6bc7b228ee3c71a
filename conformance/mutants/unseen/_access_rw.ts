/**
 * Shared by the faults that change one step of IOMMU_TEST_OP_ACCESS_RW: a
 * copy of iommufd_test_access_rw (selftest.c) → iommufd_access_rw
 * (device.c) whose piece length, area permission test, start byte,
 * iopt_pages_rw_access, data cursor and iopt_area_contig_done test are
 * parameters.
 * With the reference's own it answers exactly as the reference does.
 */
import { EBADFD, EFAULT, EINVAL, ENOENT, ENOMEM, EOPNOTSUPP, EOVERFLOW, EPERM } from '../../../impl/lib/errno.ts';
import { MOCK_ACCESS_RW_SLOW_PATH, MOCK_ACCESS_RW_WRITE, MOCK_FLAGS_ACCESS_SYZ } from '../../../spec/uapi/constants.ts';
import { ioptAreaContig, ioptAreaStartByte } from '../../../impl/iommufd/io_pagetable.ts';
import { ioptPagesRwAccess } from '../../../impl/iommufd/pages.ts';
import { ULONG_MAX, type IoptArea, type Ucmd } from '../../../impl/iommufd/iommufd_private.ts';
import { SelftestAccess, syzConvIova } from '../../../impl/iommufd/selftest.ts';
import type { IommufdAccess } from '../../../impl/iommufd/access.ts';
import { checkAreaProt } from './_access_pages.ts';

const SZ_16M = 16 * 1024 * 1024;

export interface AccessRwSteps {
  /** The bytes of one area's piece: (min(last, iopt_area_last_iova(area)) - cur) + 1. */
  readonly pieceBytes?: (last: bigint, area: IoptArea, cur: bigint) => number;
  /** check_area_prot: whether the area allows the access's direction (EPERM if not). */
  readonly checkProt?: (area: IoptArea, write: boolean) => boolean;
  readonly pagesRw?: typeof ioptPagesRwAccess;
  /** iopt_area_contig_done: whether the areas covered the whole range (ENOENT if not). */
  readonly contigDone?: (done: boolean) => boolean;
  /** iopt_for_each_contig_area: the areas' pieces of [iova, last], and whether they reached last. */
  readonly contig?: typeof ioptAreaContig;
  /** iopt_area_start_byte: the byte of the area's pages an IOVA in it is. */
  readonly startByte?: (area: IoptArea, iova: bigint) => bigint;
  /** `data += bytes`: where the next area's piece starts in the kernel buffer. */
  readonly advance?: (off: number, bytes: number) => number;
  /** A read's copy of the bounce buffer to uptr runs before the access's result is tested (the kernel's runs only on success). */
  readonly copyOutFirst?: boolean;
  /** iommufd_test_syz_conv_iova: syzkaller's (nth area, offset) IOVA decoded in the access's IOAS. */
  readonly syzConv?: (access: IommufdAccess, iova: bigint) => bigint;
}

const pieceBytesOf = (last: bigint, area: IoptArea, cur: bigint): number => Number((last < area.last ? last : area.last) - cur + 1n);

/** iommufd_access_rw with the given steps. */
function accessRw(steps: Required<Omit<AccessRwSteps, 'copyOutFirst' | 'syzConv'>>, access: IommufdAccess, iova: bigint, data: Uint8Array, write: boolean, slowPath: boolean): number {
  if (!data.length) return -EINVAL;
  const last = iova + BigInt(data.length) - 1n;
  if (last > ULONG_MAX) return -EOVERFLOW;
  const ioas = access.ioas;
  if (!ioas) return -ENOENT;
  const { pieces, done } = steps.contig(ioas.iopt, iova, last);
  let off = 0;
  for (const { area, cur } of pieces) {
    const bytes = steps.pieceBytes(last, area, cur);
    if (area.preventAccess) return -EINVAL;
    if (!steps.checkProt(area, write)) return -EPERM;
    // Never empty with the kernel's piece length; a longer piece can leave none for the next area.
    const chunk = data.subarray(off, off + bytes);
    if (chunk.length) {
      const rc = steps.pagesRw(area.pages!, Number(steps.startByte(area, cur)), chunk, write, slowPath);
      if (rc) return rc;
    }
    off = steps.advance(off, bytes);
  }
  return steps.contigDone(done) ? 0 : -ENOENT;
}

/** iommufd_test_access_rw over iommufd_access_rw with the given steps (the reference's where none is given). */
export function accessRwHandler({ pieceBytes = pieceBytesOf, checkProt = checkAreaProt, pagesRw = ioptPagesRwAccess, contigDone = (done) => done, contig = ioptAreaContig, startByte = ioptAreaStartByte, advance = (off, bytes) => off + bytes, copyOutFirst = false, syzConv = syzConvIova }: AccessRwSteps): (ucmd: Ucmd) => number {
  const steps = { pieceBytes, checkProt, pagesRw, contigDone, contig, startByte, advance };
  return (ucmd) => {
    const { cmd, ctx } = ucmd;
    let iova = cmd.big('access_rw.iova');
    const length = cmd.big('access_rw.length');
    const ubuf = cmd.big('access_rw.uptr');
    const flags = cmd.num('access_rw.flags');
    if (length > BigInt(SZ_16M)) return -ENOMEM;
    if (flags & ~(MOCK_ACCESS_RW_WRITE | MOCK_ACCESS_RW_SLOW_PATH | MOCK_FLAGS_ACCESS_SYZ)) return -EOPNOTSUPP;
    const file = ctx.proc.fds.fget(cmd.num('id'));
    if (!file) return -EBADFD;
    try {
      if (file.kind !== 'selftest-access' || !(file.private_data instanceof SelftestAccess)) return -EBADFD;
      const access = file.private_data.access!;
      if (ctx.faults.shouldFail()) return -ENOMEM;
      let tmp: Uint8Array = new Uint8Array(Number(length));
      const write = (flags & MOCK_ACCESS_RW_WRITE) !== 0;
      if (write) {
        const b = ctx.proc.copyFromUser(ubuf, Number(length));
        if (!b) return -EFAULT;
        tmp = b;
      }
      if (flags & MOCK_FLAGS_ACCESS_SYZ) iova = syzConv(access, iova);
      const rc = accessRw(steps, access, iova, tmp, write, (flags & MOCK_ACCESS_RW_SLOW_PATH) !== 0);
      if (copyOutFirst) return !write && !ctx.proc.copyToUser(ubuf, tmp) ? -EFAULT : rc;
      if (rc) return rc;
      if (!write && !ctx.proc.copyToUser(ubuf, tmp)) return -EFAULT;
      return 0;
    } finally {
      file.put();
    }
  };
}
