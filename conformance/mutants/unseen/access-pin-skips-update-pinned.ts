/**
 * access-pin-skips-update-pinned (drivers/iommu/iommufd/pages.c
 * iopt_pages_fill_xarray, reached from iopt_area_add_access ←
 * iommufd_access_pin_pages ← IOMMU_TEST_OP_ACCESS_PAGES).
 *
 * When an in-kernel access (an mdev/emulated device; the selftest's
 * staccess) pins pages that no domain holds yet, iopt_pages_fill_xarray pins
 * the holes from the mm and then, like every other pinning path, accounts
 * them once the work is done:
 *
 *         }
 *         rc = pfn_reader_user_update_pinned(&user, pages);
 *         if (rc)
 *                 goto out_clean_xa;
 *         user.upages = NULL;
 *         pfn_reader_user_destroy(&user, pages);
 *         return 0;
 *
 * pfn_reader_user_update_pinned → do_update_pinned charges the new pins to
 * RLIMIT_MEMLOCK (user->locked_vm, or mm->locked_vm in MM mode: ENOMEM over
 * the limit, and the unwind unpins) and to mm->pinned_vm, and moves
 * last_npinned up to npinned.
 *
 * THE FAULT: the call is lost (a refactor of the success tail that moved the
 * upages cleanup up and dropped the accounting with it). The pages are pinned
 * and pages->npinned counts them, but nothing is charged and last_npinned
 * stays behind. update_unpinned is unchanged, so unpinning them later gives
 * nothing back (npinned falls back to last_npinned): the books balance at
 * the end, but while the access holds its pins they are invisible to every
 * limit. (If a domain fill charges the same iopt_pages meanwhile, its lazy
 * npinned - last_npinned delta picks the access's pages up then.)
 *
 * Consequence: a process that may not lock memory (no CAP_IPC_LOCK, a
 * RLIMIT_MEMLOCK of L pages) pins any amount of memory long-term through an
 * access on an IOAS that has no domain — the mdev/vfio-ap/vfio-ccw case —
 * with no ENOMEM, and VmPin (mm->pinned_vm) does not show the pins. The
 * memlock limit, the only bound on how much RAM a user can make unswappable
 * and unmovable, is bypassed.
 *
 * Applied as: IOMMU_TEST_OP_ACCESS_PAGES through a copy of
 * iommufd_test_access_pages → iommufd_access_pin_pages →
 * iopt_area_add_access whose fresh pins are held (ioptPagesHold 'later')
 * and never charged (no ioptPagesCharge). Everything else is the reference's.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { mutantImplementation } from '../harness.ts';
import { EBADE, EBADFD, EFAULT, EINVAL, ENOENT, ENOMEM, EOPNOTSUPP, EOVERFLOW, EPERM } from '../../../impl/lib/errno.ts';
import { IOMMU_TEST_OP_ACCESS_PAGES, MOCK_FLAGS_ACCESS_SYZ, MOCK_FLAGS_ACCESS_WRITE } from '../../../spec/uapi/constants.ts';
import { iommufdUcmdRespond, PAGE_SIZE, ULONG_MAX, type IoptArea, type Ucmd } from '../../../impl/iommufd/iommufd_private.ts';
import { IOMMU_READ, IOMMU_WRITE, ioptAreaContig, ioptAreaIovaToIndex, ioptAreaStartByte } from '../../../impl/iommufd/io_pagetable.ts';
import { ioptAreaRemoveAccess, ioptPagesHold } from '../../../impl/iommufd/pages.ts';
import { err, ok, type Result } from '../../../impl/iommufd/object.ts';
import { SelftestAccess, syzConvIova } from '../../../impl/iommufd/selftest.ts';
import type { IommufdAccess } from '../../../impl/iommufd/access.ts';
import type { KFile } from '../../../impl/process/file.ts';
import { Unwind } from '../../../impl/lib/unwind.ts';

const P = BigInt(PAGE_SIZE);
const SZ_16M = 16n * 1024n * 1024n;

/** iopt_area_add_access with THE FAULT in iopt_pages_fill_xarray: the fresh pins are never charged. */
function addAccessUncharged(area: IoptArea, start: number, last: number, write: boolean): Result<number[]> {
  const pages = area.pages!;
  if (write && !pages.writable) return err(-EPERM);
  const exact = pages.accesses.find((a) => a.start === start && a.last === last);
  let pfns: number[];
  if (exact) {
    exact.users++;
    pfns = [];
    for (let i = start; i <= last; i++) pfns.push(pages.pinnedPfn(i)!);
  } else {
    if (pages.proc.faults.shouldFail()) return err(-ENOMEM); // kzalloc(access)
    // iopt_pages_fill_xarray: pin the holes … and return without pfn_reader_user_update_pinned().
    const held = ioptPagesHold(pages, start, last, 'later');
    if (held.errno) return held;
    pages.accesses.push({ start, last, users: 1 });
    pfns = held.value!;
  }
  area.numAccesses++;
  return ok(pfns);
}

/** iopt_area_contig_is_aligned */
function contigIsAligned(area: IoptArea, cur: bigint, isLastPiece: boolean): boolean {
  if (ioptAreaStartByte(area, cur) % P) return false;
  if (!isLastPiece && ioptAreaStartByte(area, area.last) % P !== P - 1n) return false;
  return true;
}

/** iommufd_access_pin_pages over the faulty iopt_area_add_access. */
function accessPinPages(access: IommufdAccess, iova: bigint, length: bigint, write: boolean): Result<number[]> {
  if (!access.ops.needsPinPages) return err(-EINVAL);
  if (!length) return err(-EINVAL);
  const last = iova + length - 1n;
  if (last > ULONG_MAX) return err(-EOVERFLOW);
  const ioas = access.ioas;
  if (!ioas) return err(-ENOENT);
  const { pieces, done } = ioptAreaContig(ioas.iopt, iova, last);
  const out: number[] = [];
  const unwind = new Unwind();
  for (const { area, cur } of pieces) {
    const pieceLast = last < area.last ? last : area.last;
    if (area.preventAccess || !contigIsAligned(area, cur, pieceLast === last)) return unwind.exit(err(-EINVAL));
    if (!(area.iommuProt & (write ? IOMMU_WRITE : IOMMU_READ))) return unwind.exit(err(-EPERM));
    const first = ioptAreaIovaToIndex(area, cur);
    const lastIndex = ioptAreaIovaToIndex(area, pieceLast);
    const r = addAccessUncharged(area, first, lastIndex, write);
    if (r.errno) return unwind.exit(err(r.errno));
    unwind.onError('err_remove', () => ioptAreaRemoveAccess(area, first, lastIndex));
    out.push(...r.value!);
  }
  if (!done) return unwind.exit(err(-ENOENT));
  return unwind.exit(ok(out));
}

/** iommufd_access_unpin_pages (the reference's, for the unwind). */
function accessUnpinPages(access: IommufdAccess, iova: bigint, length: bigint): void {
  if (!length) return;
  const last = iova + length - 1n;
  if (last > ULONG_MAX || !access.ioasUnpin) return;
  const { pieces } = ioptAreaContig(access.ioasUnpin.iopt, iova, last);
  for (const { area, cur } of pieces) {
    const pieceLast = last < area.last ? last : area.last;
    ioptAreaRemoveAccess(area, ioptAreaIovaToIndex(area, cur), ioptAreaIovaToIndex(area, pieceLast));
  }
}

/** iommufd_test_access_pages over the faulty pin. */
function testAccessPages(ucmd: Ucmd): number {
  const { cmd, ctx } = ucmd;
  let iova = cmd.big('access_pages.iova');
  const length = cmd.big('access_pages.length');
  const uptr = cmd.big('access_pages.uptr');
  const flags = cmd.num('access_pages.flags');
  if (length > SZ_16M) return -ENOMEM;
  if (flags & ~(MOCK_FLAGS_ACCESS_WRITE | MOCK_FLAGS_ACCESS_SYZ)) return -EOPNOTSUPP;
  // iommufd_access_get
  const file: KFile | undefined = ctx.proc.fds.fget(cmd.num('id'));
  if (!file) return -EBADFD;
  const unwind = new Unwind();
  unwind.always('out_put', () => file.put());
  if (file.kind !== 'selftest-access' || !(file.private_data instanceof SelftestAccess)) return unwind.exit(-EBADFD);
  const staccess = file.private_data;
  if (!staccess.needsPin) return unwind.exit(-EOPNOTSUPP);
  const access = staccess.access!;
  if (flags & MOCK_FLAGS_ACCESS_SYZ) iova = syzConvIova(access, iova);
  if (ctx.faults.shouldFail()) return unwind.exit(-ENOMEM); // kvcalloc(pages)
  const pinned = accessPinPages(access, iova, length, (flags & MOCK_FLAGS_ACCESS_WRITE) !== 0);
  if (pinned.errno) return unwind.exit(pinned.errno);
  unwind.onError('out_unaccess', () => accessUnpinPages(access, iova, length));
  if (uptr) {
    // iommufd_test_check_pages
    const base = uptr - (iova % P);
    const pfns = pinned.value!;
    for (let i = 0; i < pfns.length; i++) {
      const t = ctx.proc.translateVa(base + BigInt(i) * P);
      if (!t || !t.prot.read) return unwind.exit(-EFAULT);
      if (t.pfn !== pfns[i]) return unwind.exit(-EBADE);
    }
  }
  if (ctx.faults.shouldFail()) return unwind.exit(-ENOMEM); // kzalloc(item)
  const item = { iova, length, id: staccess.nextId++ };
  staccess.items.push(item);
  unwind.onError('out_free_item', () => staccess.items.splice(staccess.items.indexOf(item), 1));
  cmd.set('access_pages.out_access_pages_id', item.id);
  return unwind.exit(iommufdUcmdRespond(ucmd));
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('access-pin-skips-update-pinned', profile, {
    handlers: {
      IOMMU_TEST_CMD: (ucmd, original) => (ucmd.cmd.num('op') === IOMMU_TEST_OP_ACCESS_PAGES ? testAccessPages(ucmd) : original(ucmd)),
    },
  });
}
