/**
 * access-add-counts-before-pin (drivers/iommu/iommufd/pages.c
 * iopt_area_add_access, called by iommufd_access_pin_pages for each area of
 * the range).
 *
 * area->num_accesses counts the in-kernel accesses that hold pages of the
 * area; iopt_unmap_iova_range refuses to tear down an area while it is
 * non-zero: it sets prevent_access, asks every access of the IOAS to unpin
 * (iommufd_access_notify_unmap) and retries, giving up with EDEADLOCK after
 * 100 tries. The correct code counts an access only once it holds the pages:
 *
 *     access = iopt_pages_get_exact_access(pages, start_index, last_index);
 *     if (access) {
 *             area->num_accesses++;
 *             access->users++;
 *             ...
 *             return 0;
 *     }
 *     access = kzalloc(sizeof(*access), GFP_KERNEL_ACCOUNT);
 *     if (!access) { rc = -ENOMEM; goto err_unlock; }
 *     rc = iopt_pages_fill_xarray(pages, start_index, last_index, out_pages);
 *     if (rc)
 *             goto err_free;
 *     ...
 *     area->num_accesses++;
 *
 * The fault is a rework that counts the access once, at the top, for both
 * paths ("area->num_accesses++" right after mutex_lock), and leaves the
 * error paths (err_free, err_unlock) as they were: when the new access
 * cannot be allocated or its pages cannot be pinned — RLIMIT_MEMLOCK
 * (ENOMEM), user memory that is gone or no longer writable (EFAULT), a failed
 * allocation — IOMMU_TEST_OP_ACCESS_PAGES fails, nothing is pinned, but the
 * area keeps a count for an access that does not exist.
 *
 * Consequence for a user: a failed pin leaves the area permanently "in use".
 * The next IOMMU_IOAS_UNMAP (or VFIO_IOMMU_UNMAP_DMA, or the IOAS's
 * destruction) covering it notifies the accesses, none of which holds
 * anything, and fails with EDEADLOCK after 100 tries: the mapping cannot be
 * removed, so every domain of the IOAS keeps mapping (and pinning) the pages
 * the user asked to unmap and a device keeps reaching them; the area is left
 * prevent_access, so accesses to it fail with EINVAL from then on; and
 * destroying the IOAS leaves the area behind (iopt_unmap_all WARNs).
 *
 * Applied as: IOMMU_TEST_OP_ACCESS_PAGES runs a copy of
 * iommufd_test_access_pages → iommufd_access_pin_pages whose per-area
 * iopt_area_add_access counts the access before it pins.
 */
import type { Implementation, Profile } from '../../../spec/contract/types.ts';
import { EBADE, EBADFD, EFAULT, EINVAL, ENOENT, ENOMEM, EOPNOTSUPP, EOVERFLOW, EPERM } from '../../../impl/lib/errno.ts';
import { IOMMU_TEST_OP_ACCESS_PAGES, MOCK_FLAGS_ACCESS_SYZ, MOCK_FLAGS_ACCESS_WRITE } from '../../../spec/uapi/constants.ts';
import { IOMMU_READ, IOMMU_WRITE, ioptAreaContig, ioptAreaIovaToIndex, ioptAreaStartByte } from '../../../impl/iommufd/io_pagetable.ts';
import { ioptAreaAddAccess, ioptAreaRemoveAccess } from '../../../impl/iommufd/pages.ts';
import { iommufdUcmdRespond, PAGE_SIZE, ULONG_MAX, type IoptArea, type Ucmd } from '../../../impl/iommufd/iommufd_private.ts';
import { SelftestAccess, syzConvIova } from '../../../impl/iommufd/selftest.ts';
import { iommufdAccessUnpinPages, type IommufdAccess } from '../../../impl/iommufd/access.ts';
import { err, ok, type Result } from '../../../impl/iommufd/object.ts';
import type { KFile } from '../../../impl/process/file.ts';
import { Unwind } from '../../../impl/lib/unwind.ts';
import { mutantImplementation } from '../harness.ts';

const SZ_16M = 16n * 1024n * 1024n;
const P = BigInt(PAGE_SIZE);

/** iopt_area_add_access with the count taken before the new access is allocated and pinned. */
function addAccessCountedFirst(area: IoptArea, start: number, last: number, write: boolean): Result<number[]> {
  if (write && !area.pages!.writable) return err(-EPERM);
  area.numAccesses++; // THE FAULT: counted before anything that can fail
  const r = ioptAreaAddAccess(area, start, last, write);
  if (r.errno) return r; // err_free / err_unlock: the count stays
  area.numAccesses--; // the reference's own count of the success
  return r;
}

/** iopt_area_contig_is_aligned */
function contigIsAligned(area: IoptArea, cur: bigint, isLastPiece: boolean): boolean {
  if (ioptAreaStartByte(area, cur) % P) return false;
  if (!isLastPiece && ioptAreaStartByte(area, area.last) % P !== P - 1n) return false;
  return true;
}

/** iommufd_access_pin_pages over addAccessCountedFirst. */
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
    const isLastPiece = pieceLast === last;
    if (area.preventAccess || !contigIsAligned(area, cur, isLastPiece)) return unwind.exit(err(-EINVAL));
    if (!(area.iommuProt & (write ? IOMMU_WRITE : IOMMU_READ))) return unwind.exit(err(-EPERM));
    const first = ioptAreaIovaToIndex(area, cur);
    const lastIndex = ioptAreaIovaToIndex(area, pieceLast);
    const r = addAccessCountedFirst(area, first, lastIndex, write);
    if (r.errno) return unwind.exit(err(r.errno));
    unwind.onError('err_remove', () => ioptAreaRemoveAccess(area, first, lastIndex));
    out.push(...r.value!);
  }
  if (!done) return unwind.exit(err(-ENOENT));
  return unwind.exit(ok(out));
}

/** iommufd_access_get */
function accessGet(ucmd: Ucmd, fd: number): { errno: number; staccess?: SelftestAccess; file?: KFile } {
  const file = ucmd.ctx.proc.fds.fget(fd);
  if (!file) return { errno: -EBADFD };
  if (file.kind !== 'selftest-access' || !(file.private_data instanceof SelftestAccess)) {
    file.put();
    return { errno: -EBADFD };
  }
  return { errno: 0, staccess: file.private_data, file };
}

/** iommufd_test_check_pages */
function checkPages(ucmd: Ucmd, uptr: bigint, pfns: readonly number[]): number {
  for (let i = 0; i < pfns.length; i++) {
    const t = ucmd.ctx.proc.translateVa(uptr + BigInt(i) * P);
    if (!t || !t.prot.read) return -EFAULT;
    if (t.pfn !== pfns[i]) return -EBADE;
  }
  return 0;
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
  const g = accessGet(ucmd, cmd.num('id'));
  if (g.errno) return g.errno;
  const staccess = g.staccess!;
  const unwind = new Unwind();
  unwind.always('out_put', () => g.file!.put());
  if (!staccess.needsPin) return unwind.exit(-EOPNOTSUPP);
  if (flags & MOCK_FLAGS_ACCESS_SYZ) iova = syzConvIova(staccess.access!, iova);
  if (ctx.faults.shouldFail()) return unwind.exit(-ENOMEM); // kvcalloc(pages)
  const pinned = accessPinPages(staccess.access!, iova, length, (flags & MOCK_FLAGS_ACCESS_WRITE) !== 0);
  if (pinned.errno) return unwind.exit(pinned.errno);
  unwind.onError('out_unaccess', () => iommufdAccessUnpinPages(staccess.access!, iova, length));
  if (uptr) {
    const rc = checkPages(ucmd, uptr - (iova % P), pinned.value!);
    if (rc) return unwind.exit(rc);
  }
  if (ctx.faults.shouldFail()) return unwind.exit(-ENOMEM); // kzalloc(item)
  const item = { iova, length, id: staccess.nextId++ };
  staccess.items.push(item);
  unwind.onError('out_free_item', () => staccess.items.splice(staccess.items.indexOf(item), 1));
  cmd.set('access_pages.out_access_pages_id', item.id);
  return unwind.exit(iommufdUcmdRespond(ucmd));
}

export function createAdapter(profile: Profile): Implementation {
  return mutantImplementation('access-add-counts-before-pin', profile, {
    handlers: {
      IOMMU_TEST_CMD: (ucmd, original) => (ucmd.cmd.num('op') === IOMMU_TEST_OP_ACCESS_PAGES ? testAccessPages(ucmd) : original(ucmd)),
    },
  });
}
